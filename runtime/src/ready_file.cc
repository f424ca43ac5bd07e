#include "smtpbridge/common/ready_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace smtpbridge::common {

bool WriteReadyFile(const std::string& path, const std::string& address, std::string* error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << address << '\n';
    out.flush();
    if (!out) {
      if (error) *error = "cannot write the ready file " + tmp;
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (error) *error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace smtpbridge::common
