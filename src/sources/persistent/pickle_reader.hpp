// A small, strict unpickler for the pickle shapes Chroma writes to index_metadata.pickle.
//
// Chroma 0.4–0.6 (Python) writes a `PersistentData` object with protocol 4/5:
//   PROTO, FRAME, SHORT_BINUNICODE module/name, STACK_GLOBAL (or GLOBAL), EMPTY_TUPLE, NEWOBJ
//   (or REDUCE), EMPTY_DICT, MARK … SETITEMS, BUILD, STOP, with MEMOIZE/BINPUT/BINGET.
// Chroma 1.x (Rust, serde-pickle) writes a plain dict with protocol 3.
// Any other opcode, or an opcode applied to the wrong kind of value, is refused with a precise
// error; nothing is ever executed. Arbitrary bytes never crash it: every read is bounds-checked,
// the stack, the memo and nesting depth are limited, and cycles are harmless (containers live in
// a table and refer to each other by index).
//
// Memory: the pickle of a collection holds two or three maps with one entry per record, so a
// value is an 8-byte Ref: small ints and strings are held in place (strings as views into the
// input bytes, which must outlive the Value); only containers and rare values use side tables.
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

enum class Kind : uint8_t { none, boolean, integer, floating, string, list, tuple, dict, global, object };

// One value: a 4-bit tag and a 60-bit payload (opaque; read it through Value).
struct Ref {
    uint64_t bits = 0;
    bool operator==(const Ref &o) const { return bits == o.bits; }
};

struct Limits {
    size_t max_nodes = 50'000'000; // values created
    size_t max_memo = 50'000'000;  // memo slots
    size_t max_stack = 50'000'000; // stack + mark depth
    size_t max_container_items = 200'000'000; // items across all containers
};

// The parsed pickle: the root (the value left by STOP) and the tables its Refs point into.
class Value {
public:
    Ref root() const { return root_; }
    int protocol() const { return protocol_; }

    Kind kind(Ref r) const;
    int64_t integer(Ref r) const;                                   // integer or boolean (0/1)
    double floating(Ref r) const;
    std::string_view str(Ref r) const;                              // string, or a global's "module.name"
    const std::vector<Ref> &items(Ref r) const;                     // list/tuple items, object constructor args
    const std::vector<std::pair<Ref, Ref>> &entries(Ref r) const;   // dict entries in pickle order
    Ref cls(Ref object) const;                                      // the object's class (a global)
    std::optional<Ref> state(Ref object) const;                     // BUILD's argument

    // Dict lookup by string key (first match); nullopt when absent or `dict` is not a dict.
    std::optional<Ref> dict_get(Ref dict, std::string_view key) const;
    // A readable one-word name of a kind ("dict", "int", …) for error messages.
    static const char *kind_name(Kind k);

private:
    friend class Parser;
    struct Container {
        std::vector<Ref> items;
        std::vector<std::pair<Ref, Ref>> entries;
        Ref cls;
        std::optional<Ref> state;
    };
    const uint8_t *input_ = nullptr;
    std::vector<int64_t> big_ints_;
    std::vector<double> floats_;
    std::vector<std::pair<uint64_t, uint64_t>> long_strings_; // (offset, length) in the input
    std::vector<std::string> globals_;
    std::vector<Container> containers_;
    Ref root_;
    int protocol_ = 0;

    const Container &container(Ref r) const;
};

// Parses `data`, which must outlive the result. `what` names the input in errors (e.g.
// "collection 'docs': .../index_metadata.pickle"). Throws c2p::DataError: "<what>: unsupported
// pickle opcode 0x.. at offset N", "<what>: pickle truncated at offset N", "<what>: bad pickle at
// offset N: <reason>".
Value parse(const uint8_t *data, size_t size, const std::string &what, const Limits &limits = {});

struct IdLabel {
    std::string_view id; // a view into the pickle bytes
    uint64_t label = 0;
};

// The fields Chroma keeps in index_metadata.pickle.
struct IndexMetadata {
    std::string shape;                   // "PersistentData" (Python) or "dict" (Rust)
    int protocol = 0;
    std::optional<int64_t> dimensionality;   // None in Rust pickles
    int64_t total_elements_added = 0;
    std::optional<int64_t> max_seq_id;       // None in Rust pickles and Python ≥ 0.5.6
    // id_to_label, sorted by label (unique), checked to agree with label_to_id entry by entry.
    std::vector<IdLabel> by_label;
    size_t id_to_seq_id_entries = 0;         // not needed to export; counted for inspect

    // The entry with this label, or nullptr.
    const IdLabel *find_label(uint64_t label) const;
};

// Extracts IndexMetadata from a parsed pickle; throws DataError naming `what` and the field
// when the shape is not one Chroma writes (e.g. "label_to_id: expected dict, found list").
IndexMetadata extract_index_metadata(const Value &v, const std::string &what);

// Convenience: parse + extract. The ids in the result are views into `data`.
IndexMetadata read_index_metadata(const uint8_t *data, size_t size, const std::string &what);

} // namespace c2p::unpickle
