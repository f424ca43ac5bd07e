#include "server/admin_service.h"

#include <set>

namespace smtpbridge::dispatcher {

AdminService::AdminService(BindingsStore* store, BindingStatsRegistry* stats, std::string token,
                           cq::CqPool* cqs)
    : store_(store), stats_(stats), auth_(std::move(token)) {
  list_ = std::make_unique<decltype(list_)::element_type>(
      this, &AdminService::RequestListBindings, cqs,
      [this](grpc::ServerContext& c, const auto& request, auto* response) {
        return HandleListBindings(c, request, response);
      });
  stats_method_ = std::make_unique<decltype(stats_method_)::element_type>(
      this, &AdminService::RequestGetBindingStats, cqs,
      [this](grpc::ServerContext& c, const auto& request, auto* response) {
        return HandleGetBindingStats(c, request, response);
      });
  reload_ = std::make_unique<decltype(reload_)::element_type>(
      this, &AdminService::RequestReload, cqs,
      [this](grpc::ServerContext& c, const auto& request, auto* response) {
        return HandleReload(c, request, response);
      });
}

AdminService::~AdminService() = default;

void AdminService::Arm(grpc::ServerCompletionQueue* cq) {
  list_->Post(cq);
  stats_method_->Post(cq);
  reload_->Post(cq);
}

grpc::Status AdminService::Authorize(const grpc::ServerContext& context) const {
  return auth_.Authorize(context);
}

grpc::Status AdminService::HandleListBindings(grpc::ServerContext& context,
                                              const v1::ListBindingsRequest& request,
                                              v1::ListBindingsResponse* response) {
  if (auto status = Authorize(context); !status.ok()) return status;
  if (const auto set = store_->Current()) {
    for (const auto& b : set->bindings()) {
      if (request.instance() != 0 && b.proto.instance() != request.instance()) continue;
      *response->add_bindings() = b.proto;
    }
  }
  response->set_source(store_->path());
  response->set_generation(store_->generation());
  return grpc::Status::OK;
}

grpc::Status AdminService::HandleGetBindingStats(grpc::ServerContext& context,
                                                 const v1::GetBindingStatsRequest& request,
                                                 v1::GetBindingStatsResponse* response) {
  if (auto status = Authorize(context); !status.ok()) return status;
  // Every current binding appears, with zeros when it has not matched yet.
  std::set<std::string> listed;
  for (auto& stats : stats_->Snapshot(request.name())) {
    listed.insert(stats.name());
    *response->add_stats() = std::move(stats);
  }
  if (const auto set = store_->Current()) {
    for (const auto& b : set->bindings()) {
      if (!request.name().empty() && b.name() != request.name()) continue;
      if (listed.insert(b.name()).second) response->add_stats()->set_name(b.name());
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::HandleReload(grpc::ServerContext& context, const v1::ReloadRequest&,
                                        v1::ReloadResponse* response) {
  if (auto status = Authorize(context); !status.ok()) return status;
  const ReloadOutcome outcome = store_->Reload();
  response->set_ok(outcome.ok);
  for (const auto& e : outcome.errors) response->add_errors(e);
  response->set_generation(outcome.generation);
  response->set_bindings(static_cast<uint32_t>(outcome.bindings));
  return grpc::Status::OK;
}

}  // namespace smtpbridge::dispatcher
