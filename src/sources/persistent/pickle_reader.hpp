// A small, strict unpickler for the pickle shapes Chroma writes to index_metadata.pickle.
//
// Chroma 0.4–0.6 (Python) writes a `PersistentData` object with protocol 4/5:
//   PROTO, FRAME, SHORT_BINUNICODE module/name, STACK_GLOBAL (or GLOBAL), EMPTY_TUPLE, NEWOBJ
//   (or REDUCE), EMPTY_DICT, MARK … SETITEMS, BUILD, STOP, with MEMOIZE/BINPUT/BINGET.
// Chroma 1.x (Rust, serde-pickle) writes a plain dict with protocol 3.
// Any other opcode, or an opcode applied to the wrong kind of value, is refused with a precise
// error; nothing is ever executed. Arbitrary bytes never crash it: every read is bounds-checked,
// the stack, the memo and nesting depth are limited, and cycles are harmless (values live in an
// arena and refer to each other by index).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace c2p::unpickle {

using NodeId = uint32_t;

enum class Kind : uint8_t { none, boolean, integer, floating, string, list, tuple, dict, global, object };

// One value. Which fields are meaningful depends on `kind`:
//   boolean/integer → i (0/1 for bool); floating → f; string → s; global → s = "module.name";
//   list/tuple → items; dict → entries (key, value), in pickle order;
//   object → cls (a global), items = constructor args, state (BUILD's argument) or nullopt.
struct Node {
    Kind kind = Kind::none;
    int64_t i = 0;
    double f = 0.0;
    std::string s;
    std::vector<NodeId> items;
    std::vector<std::pair<NodeId, NodeId>> entries;
    NodeId cls = 0;
    std::optional<NodeId> state;
};

struct Limits {
    size_t max_nodes = 50'000'000; // values created
    size_t max_memo = 50'000'000;  // memo slots
    size_t max_stack = 50'000'000; // stack + mark depth
    size_t max_container_items = 200'000'000; // items across all containers
};

// The parsed pickle: an arena of nodes and the root (the value left by STOP).
class Value {
public:
    const Node &node(NodeId id) const { return nodes_.at(id); }
    NodeId root() const { return root_; }
    const Node &root_node() const { return nodes_.at(root_); }
    size_t size() const { return nodes_.size(); }
    int protocol() const { return protocol_; }

    // Dict lookup by string key (first match); nullopt when absent or `dict` is not a dict.
    std::optional<NodeId> dict_get(NodeId dict, std::string_view key) const;
    // A readable one-word name of a node's kind ("dict", "int", …) for error messages.
    static const char *kind_name(Kind k);

private:
    friend class Parser;
    std::vector<Node> nodes_;
    NodeId root_ = 0;
    int protocol_ = 0;
};

// Parses `data`. `what` names the input in errors (e.g. "collection 'docs': .../index_metadata.pickle").
// Throws c2p::DataError: "<what>: unsupported pickle opcode 0x.. at offset N",
// "<what>: pickle truncated at offset N", "<what>: bad pickle at offset N: <reason>".
Value parse(const uint8_t *data, size_t size, const std::string &what, const Limits &limits = {});

// The fields Chroma keeps in index_metadata.pickle.
struct IndexMetadata {
    std::string shape;                   // "PersistentData" (Python) or "dict" (Rust)
    int protocol = 0;
    std::optional<int64_t> dimensionality;   // None in Rust pickles
    int64_t total_elements_added = 0;
    std::optional<int64_t> max_seq_id;       // None in Rust pickles and Python ≥ 0.5.6
    std::unordered_map<std::string, uint64_t> id_to_label;
    std::unordered_map<uint64_t, std::string> label_to_id;
    std::unordered_map<std::string, int64_t> id_to_seq_id;
};

// Extracts IndexMetadata from a parsed pickle; throws DataError naming `what` and the field
// when the shape is not one Chroma writes (e.g. "label_to_id: expected dict, found list").
// id_to_label and label_to_id must agree (each label ↔ id pair present in both).
IndexMetadata extract_index_metadata(const Value &v, const std::string &what);

// Convenience: parse + extract.
IndexMetadata read_index_metadata(const uint8_t *data, size_t size, const std::string &what);

} // namespace c2p::unpickle
