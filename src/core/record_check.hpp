// What PostgreSQL cannot store, found before a row reaches COPY (so one bad row never aborts a batch).
#pragma once

#include <string>

#include "core/record.hpp"

namespace c2p {

// Longest id we accept: a btree key must fit in a third of an 8 kB page.
constexpr size_t kMaxIdBytes = 2048;

// Empty when record i is storable; otherwise the reason, naming the field.
std::string record_problem(const RecordBatch &b, size_t i);

// An id PostgreSQL can store as text (a record whose id it cannot is rejected with its record).
bool storable_id(const std::string &id);

} // namespace c2p
