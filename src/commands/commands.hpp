// Every subcommand registers its flags and its run callback on the root CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace c2p {

void register_inspect(CLI::App &app);
void register_migrate(CLI::App &app);
void register_verify(CLI::App &app);
void register_bench(CLI::App &app);
void register_backup(CLI::App &app);
void register_restore(CLI::App &app);
void register_sync(CLI::App &app);

} // namespace c2p
