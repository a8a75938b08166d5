// Context for the work in progress, added to log lines and kept for the error that ends a run.
#pragma once

#include <nlohmann/json.hpp>

namespace c2p::log {

// While a Scope lives, its fields (e.g. {"collection": name}) are added to every JSON log line
// its thread writes (a thread started inside needs a Scope of its own). When an exception leaves
// the scope, the context of that moment is kept for the error line cli/ prints
// (failure_context()), whichever thread threw it. Scopes nest.
//   log::Scope scope(nlohmann::ordered_json{{"collection", name}});
class Scope {
public:
    explicit Scope(nlohmann::ordered_json fields);
    ~Scope();
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;

private:
    int uncaught_;
};

// The scopes' fields where the last exception to leave a scope was thrown; empty otherwise.
nlohmann::ordered_json failure_context();

} // namespace c2p::log
