// sink_test_dispatcher: the TestDispatcher as a process, for the C ABI test.
//   sink_test_dispatcher --listen 127.0.0.1:0 --ready-file PATH
// Writes "127.0.0.1:PORT\n" to the ready file once listening; SIGTERM/SIGINT stop it (exit 0).
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "test_dispatcher.h"

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  std::string ready_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen") {
      listen = argv[i + 1];
    } else if (flag == "--ready-file") {
      ready_file = argv[i + 1];
    } else {
      std::cerr << "usage: sink_test_dispatcher --listen HOST:PORT --ready-file PATH\n";
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads
  try {
    smtpbridge::sink::testing::TestDispatcher dispatcher(listen);
    if (!ready_file.empty()) {
      const std::string tmp = ready_file + ".tmp";
      std::ofstream(tmp) << "127.0.0.1:" << dispatcher.port() << "\n";
      std::rename(tmp.c_str(), ready_file.c_str());
    }
    int signo = 0;
    sigwait(&signals, &signo);
    dispatcher.Shutdown();
  } catch (const std::exception& e) {
    std::cerr << "sink_test_dispatcher: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
