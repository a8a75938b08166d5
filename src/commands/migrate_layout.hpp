// `migrate --layout <a framework layout>`: one transaction per collection into the framework's tables.
#pragma once

#include <string>

#include "commands/common.hpp"
#include "target/layout_sink.hpp"

namespace c2p {

struct LayoutMigrateArgs {
    SourceFlags src;
    std::string to, layout;
    size_t batch_size = 1000;
    LayoutOptions opts;
    std::string summary;           // --summary FILE
    bool skip_space_check = false; // --skip-space-check
    int retries = 8;               // --retries: start-up attempts when a PostgreSQL restart takes the session
    int jobs = 1;                  // --jobs: collections loaded in parallel
    std::string app_role;          // --app-role
    bool search_settings = true;   // false: --no-search-settings
};

void run_layout_migrate(LayoutMigrateArgs &a);

} // namespace c2p
