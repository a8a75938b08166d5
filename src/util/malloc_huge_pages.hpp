// glibc's malloc backs its large blocks with transparent huge pages only when GLIBC_TUNABLES holds
// glibc.malloc.hugetlb=1 at start-up, and most hosts run THP in "madvise" mode. Reading a
// million-record directory first-touches ~250 MB of index memory, and on virtual machines each
// 4 KB page fault costs microseconds: the tunable cut `read_source`'s CPU by ~12 % (BENCHMARKS.md).
// So main() re-executes the binary once with the tunable, then restores the caller's environment.
// CHROMA2PG_MALLOC_HUGE_PAGES=0 turns this off, =1 turns it on in sanitizer builds (off there by
// default: the sanitizers bring their own malloc, and their start-up is slow); a
// glibc.malloc.hugetlb the caller set is left alone.
#pragma once

#include <optional>
#include <string>

namespace c2p::malloc_huge_pages {

// GLIBC_TUNABLES for the re-exec, given the current value (null: unset); nullopt when the caller
// already chose glibc.malloc.hugetlb.
std::optional<std::string> tunables_with_huge_pages(const char *current);

// From /sys/kernel/mm/transparent_hugepage/enabled ("always [madvise] never"): only in madvise
// mode does the tunable change anything.
bool madvise_mode(const std::string &thp_enabled);

// First thing in main(), before argv is touched. Returns when no re-exec is wanted or possible;
// in the re-executed process it restores GLIBC_TUNABLES as the caller had it.
void reexec_if_useful(char **argv);

// True in a process this re-exec started (for a debug log line once logging is set up).
bool active();

} // namespace c2p::malloc_huge_pages
