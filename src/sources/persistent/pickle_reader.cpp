#include "sources/persistent/pickle_reader.hpp"

#include <cstring>

#include <fmt/format.h>

#include "util/error.hpp"

namespace c2p::unpickle {

const char *Value::kind_name(Kind k) {
    switch (k) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
    case Kind::global: return "class";
    case Kind::object: return "object";
    }
    return "?";
}

std::optional<NodeId> Value::dict_get(NodeId dict, std::string_view key) const {
    const Node &d = node(dict);
    if (d.kind != Kind::dict) return std::nullopt;
    for (const auto &[k, v] : d.entries) {
        const Node &kn = node(k);
        if (kn.kind == Kind::string && kn.s == key) return v;
    }
    return std::nullopt;
}

namespace {

enum Op : uint8_t {
    MARK = '(',
    STOP = '.',
    BININT = 'J',
    BININT1 = 'K',
    BININT2 = 'M',
    NONE = 'N',
    BINUNICODE = 'X',
    APPEND = 'a',
    BUILD = 'b',
    GLOBAL = 'c',
    APPENDS = 'e',
    BINGET = 'h',
    LONG_BINGET = 'j',
    EMPTY_LIST = ']',
    BINPUT = 'q',
    LONG_BINPUT = 'r',
    SETITEM = 's',
    TUPLE = 't',
    SETITEMS = 'u',
    EMPTY_DICT = '}',
    EMPTY_TUPLE = ')',
    BINFLOAT = 'G',
    REDUCE = 'R',
    POP = '0',
    PROTO = 0x80,
    NEWOBJ = 0x81,
    TUPLE1 = 0x85,
    TUPLE2 = 0x86,
    TUPLE3 = 0x87,
    NEWTRUE = 0x88,
    NEWFALSE = 0x89,
    LONG1 = 0x8a,
    SHORT_BINUNICODE = 0x8c,
    BINUNICODE8 = 0x8d,
    STACK_GLOBAL = 0x93,
    MEMOIZE = 0x94,
    FRAME = 0x95,
};

} // namespace

class Parser {
public:
    Parser(const uint8_t *data, size_t size, const std::string &what, const Limits &limits)
        : d_(data), n_(size), what_(what), lim_(limits) {}

    Value run() {
        while (true) {
            if (pos_ >= n_)
                throw DataError(fmt::format("{}: pickle truncated at offset {} (no STOP opcode; file is {} bytes)",
                                            what_, pos_, n_));
            op_at_ = pos_;
            uint8_t op = d_[pos_++];
            if (step(op)) break;
        }
        if (stack_.size() != 1 || !marks_.empty())
            bad(fmt::format("STOP with {} values on the stack and {} open marks (expected exactly one value)",
                            stack_.size(), marks_.size()));
        v_.root_ = stack_.back();
        return std::move(v_);
    }

private:
    const uint8_t *d_;
    size_t n_;
    const std::string &what_;
    Limits lim_;
    size_t pos_ = 0;
    size_t op_at_ = 0;
    Value v_;
    std::vector<NodeId> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, NodeId> memo_;
    size_t container_items_ = 0;

    [[noreturn]] void bad(const std::string &why) const {
        throw DataError(fmt::format("{}: bad pickle at offset {}: {}", what_, op_at_, why));
    }
    [[noreturn]] void truncated(size_t need) const {
        throw DataError(fmt::format("{}: pickle truncated at offset {} (opcode 0x{:02x} needs {} more bytes; file is {} bytes)",
                                    what_, op_at_, d_[op_at_], need, n_));
    }
    const uint8_t *take(size_t k) {
        if (k > n_ - pos_) truncated(k - (n_ - pos_));
        const uint8_t *p = d_ + pos_;
        pos_ += k;
        return p;
    }
    uint64_t le(size_t k) {
        const uint8_t *p = take(k);
        uint64_t x = 0;
        for (size_t i = 0; i < k; ++i) x |= uint64_t(p[i]) << (8 * i);
        return x;
    }
    NodeId make(Kind k) {
        if (v_.nodes_.size() >= lim_.max_nodes) bad("too many values");
        v_.nodes_.emplace_back();
        v_.nodes_.back().kind = k;
        return NodeId(v_.nodes_.size() - 1);
    }
    Node &at(NodeId id) { return v_.nodes_[id]; }
    void push(NodeId id) {
        if (stack_.size() >= lim_.max_stack) bad("stack too deep");
        stack_.push_back(id);
    }
    NodeId pop(const char *opname) {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() <= floor) bad(fmt::format("{} on an empty stack", opname));
        NodeId id = stack_.back();
        stack_.pop_back();
        return id;
    }
    NodeId top(const char *opname) {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() <= floor) bad(fmt::format("{} on an empty stack", opname));
        return stack_.back();
    }
    // Pops everything above the last MARK, and the mark.
    std::vector<NodeId> pop_mark(const char *opname) {
        if (marks_.empty()) bad(fmt::format("{} without MARK", opname));
        size_t m = marks_.back();
        marks_.pop_back();
        std::vector<NodeId> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return out;
    }
    void count_items(size_t k) {
        container_items_ += k;
        if (container_items_ > lim_.max_container_items) bad("too many container items");
    }
    void memo_put(uint64_t idx) {
        NodeId t = top("memo put");
        if (memo_.size() >= lim_.max_memo && !memo_.count(idx)) bad("memo too large");
        memo_[idx] = t;
    }
    void memo_get(uint64_t idx) {
        auto it = memo_.find(idx);
        if (it == memo_.end()) bad(fmt::format("memo key {} not defined", idx));
        push(it->second);
    }
    void string_op(size_t len) {
        const uint8_t *p = take(len);
        NodeId id = make(Kind::string);
        at(id).s.assign(reinterpret_cast<const char *>(p), len);
        push(id);
    }
    NodeId make_tuple(std::vector<NodeId> items) {
        count_items(items.size());
        NodeId id = make(Kind::tuple);
        at(id).items = std::move(items);
        return id;
    }
    void set_items(NodeId dict, const std::vector<NodeId> &kv, const char *opname) {
        if (at(dict).kind != Kind::dict)
            bad(fmt::format("{} on a {} (expected dict)", opname, Value::kind_name(at(dict).kind)));
        if (kv.size() % 2) bad(fmt::format("{} with an odd number of items ({})", opname, kv.size()));
        count_items(kv.size() / 2);
        for (size_t i = 0; i < kv.size(); i += 2) {
            Kind kk = at(kv[i]).kind;
            if (kk != Kind::string && kk != Kind::integer && kk != Kind::boolean && kk != Kind::none &&
                kk != Kind::floating && kk != Kind::tuple)
                bad(fmt::format("{}: unhashable dict key of type {}", opname, Value::kind_name(kk)));
            at(dict).entries.emplace_back(kv[i], kv[i + 1]);
        }
    }
    void append_items(NodeId list, const std::vector<NodeId> &items, const char *opname) {
        if (at(list).kind != Kind::list)
            bad(fmt::format("{} on a {} (expected list)", opname, Value::kind_name(at(list).kind)));
        count_items(items.size());
        auto &dst = at(list).items;
        dst.insert(dst.end(), items.begin(), items.end());
    }
    void make_global(std::string module, std::string name) {
        NodeId id = make(Kind::global);
        at(id).s = module + "." + name;
        push(id);
    }
    static std::string line(const uint8_t *p, size_t len) { return std::string(reinterpret_cast<const char *>(p), len); }
    std::string read_line() {
        size_t start = pos_;
        while (pos_ < n_ && d_[pos_] != '\n') ++pos_;
        if (pos_ >= n_) truncated(1);
        std::string s = line(d_ + start, pos_ - start);
        ++pos_;
        return s;
    }

    // Returns true on STOP.
    bool step(uint8_t op) {
        switch (op) {
        case PROTO: {
            uint8_t p = take(1)[0];
            if (p < 2 || p > 5) bad(fmt::format("unsupported pickle protocol {}", p));
            v_.protocol_ = p;
            return false;
        }
        case FRAME: {
            uint64_t len = le(8);
            if (len > n_ - pos_)
                throw DataError(fmt::format("{}: pickle truncated at offset {} (frame of {} bytes, only {} remain; file is {} bytes)",
                                            what_, op_at_, len, n_ - pos_, n_));
            return false;
        }
        case STOP: return true;
        case MARK:
            if (marks_.size() >= lim_.max_stack) bad("too many marks");
            marks_.push_back(stack_.size());
            return false;
        case POP: pop("POP"); return false;
        case NONE: push(make(Kind::none)); return false;
        case NEWTRUE:
        case NEWFALSE: {
            NodeId id = make(Kind::boolean);
            at(id).i = op == NEWTRUE;
            push(id);
            return false;
        }
        case BININT: {
            NodeId id = make(Kind::integer);
            at(id).i = int32_t(uint32_t(le(4)));
            push(id);
            return false;
        }
        case BININT1: {
            NodeId id = make(Kind::integer);
            at(id).i = int64_t(le(1));
            push(id);
            return false;
        }
        case BININT2: {
            NodeId id = make(Kind::integer);
            at(id).i = int64_t(le(2));
            push(id);
            return false;
        }
        case LONG1: {
            size_t len = take(1)[0];
            if (len > 8) bad(fmt::format("LONG1 integer of {} bytes does not fit 64 bits", len));
            uint64_t x = le(len);
            if (len > 0 && len < 8 && (x >> (8 * len - 1)) & 1) x |= ~uint64_t(0) << (8 * len); // sign-extend
            NodeId id = make(Kind::integer);
            at(id).i = int64_t(x);
            push(id);
            return false;
        }
        case BINFLOAT: {
            const uint8_t *p = take(8);
            uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i]; // big-endian
            double f;
            std::memcpy(&f, &bits, 8);
            NodeId id = make(Kind::floating);
            at(id).f = f;
            push(id);
            return false;
        }
        case SHORT_BINUNICODE: string_op(take(1)[0]); return false;
        case BINUNICODE: string_op(size_t(le(4))); return false;
        case BINUNICODE8: {
            uint64_t len = le(8);
            if (len > n_ - pos_) truncated(size_t(len - (n_ - pos_)));
            string_op(size_t(len));
            return false;
        }
        case EMPTY_DICT: push(make(Kind::dict)); return false;
        case EMPTY_LIST: push(make(Kind::list)); return false;
        case EMPTY_TUPLE: push(make(Kind::tuple)); return false;
        case TUPLE: push(make_tuple(pop_mark("TUPLE"))); return false;
        case TUPLE1:
        case TUPLE2:
        case TUPLE3: {
            size_t k = size_t(op - TUPLE1 + 1);
            std::vector<NodeId> items(k);
            for (size_t i = k; i-- > 0;) items[i] = pop("TUPLEn");
            push(make_tuple(std::move(items)));
            return false;
        }
        case SETITEM: {
            NodeId v = pop("SETITEM");
            NodeId k = pop("SETITEM");
            set_items(top("SETITEM"), {k, v}, "SETITEM");
            return false;
        }
        case SETITEMS: {
            auto kv = pop_mark("SETITEMS");
            set_items(top("SETITEMS"), kv, "SETITEMS");
            return false;
        }
        case APPEND: {
            NodeId v = pop("APPEND");
            append_items(top("APPEND"), {v}, "APPEND");
            return false;
        }
        case APPENDS: {
            auto items = pop_mark("APPENDS");
            append_items(top("APPENDS"), items, "APPENDS");
            return false;
        }
        case MEMOIZE: memo_put(memo_.size()); return false;
        case BINPUT: memo_put(le(1)); return false;
        case LONG_BINPUT: memo_put(le(4)); return false;
        case BINGET: memo_get(le(1)); return false;
        case LONG_BINGET: memo_get(le(4)); return false;
        case GLOBAL: {
            std::string module = read_line();
            std::string name = read_line();
            make_global(std::move(module), std::move(name));
            return false;
        }
        case STACK_GLOBAL: {
            NodeId name = pop("STACK_GLOBAL");
            NodeId module = pop("STACK_GLOBAL");
            if (at(name).kind != Kind::string || at(module).kind != Kind::string)
                bad("STACK_GLOBAL needs two strings");
            make_global(at(module).s, at(name).s);
            return false;
        }
        case NEWOBJ:
        case REDUCE: {
            const char *nm = op == NEWOBJ ? "NEWOBJ" : "REDUCE";
            NodeId args = pop(nm);
            NodeId cls = pop(nm);
            if (at(cls).kind != Kind::global)
                bad(fmt::format("{} on a {} (expected a class)", nm, Value::kind_name(at(cls).kind)));
            if (at(args).kind != Kind::tuple)
                bad(fmt::format("{} with {} arguments (expected tuple)", nm, Value::kind_name(at(args).kind)));
            NodeId id = make(Kind::object);
            at(id).cls = cls;
            at(id).items = at(args).items;
            push(id);
            return false;
        }
        case BUILD: {
            NodeId state = pop("BUILD");
            NodeId obj = top("BUILD");
            if (at(obj).kind != Kind::object)
                bad(fmt::format("BUILD on a {} (expected an object)", Value::kind_name(at(obj).kind)));
            if (at(obj).state) bad("BUILD applied twice to one object");
            at(obj).state = state;
            return false;
        }
        default:
            throw DataError(fmt::format("{}: unsupported pickle opcode 0x{:02x} at offset {}", what_, op, op_at_));
        }
    }
};

Value parse(const uint8_t *data, size_t size, const std::string &what, const Limits &limits) {
    if (size == 0) throw DataError(fmt::format("{}: pickle truncated at offset 0 (file is empty)", what));
    Parser p(data, size, what, limits);
    return p.run();
}

namespace {

[[noreturn]] void shape_error(const std::string &what, const std::string &field, const std::string &why) {
    throw DataError(fmt::format("{}: unexpected pickle shape: {}: {}", what, field, why));
}

const Node &expect(const Value &v, NodeId id, Kind k, const std::string &what, const std::string &field) {
    const Node &n = v.node(id);
    if (n.kind != k)
        shape_error(what, field, fmt::format("expected {}, found {}", Value::kind_name(k), Value::kind_name(n.kind)));
    return n;
}

std::optional<int64_t> opt_int(const Value &v, NodeId dict, const char *key, const std::string &what, bool required) {
    auto f = v.dict_get(dict, key);
    if (!f) {
        if (required) shape_error(what, key, "missing");
        return std::nullopt;
    }
    const Node &n = v.node(*f);
    if (n.kind == Kind::none) return std::nullopt;
    if (n.kind != Kind::integer) shape_error(what, key, fmt::format("expected int or None, found {}", Value::kind_name(n.kind)));
    return n.i;
}

} // namespace

IndexMetadata extract_index_metadata(const Value &v, const std::string &what) {
    IndexMetadata out;
    out.protocol = v.protocol();
    NodeId dict = v.root();
    const Node &root = v.root_node();
    if (root.kind == Kind::object) {
        const Node &cls = v.node(root.cls);
        std::string_view name = cls.s;
        auto dot = name.rfind('.');
        std::string_view simple = dot == std::string_view::npos ? name : name.substr(dot + 1);
        if (simple != "PersistentData") shape_error(what, "root", fmt::format("unexpected class '{}'", cls.s));
        if (!root.state) shape_error(what, "PersistentData", "no state (BUILD missing)");
        dict = *root.state;
        expect(v, dict, Kind::dict, what, "PersistentData.__dict__");
        out.shape = "PersistentData";
    } else if (root.kind == Kind::dict) {
        out.shape = "dict";
    } else {
        shape_error(what, "root", fmt::format("expected dict or PersistentData, found {}", Value::kind_name(root.kind)));
    }
    out.dimensionality = opt_int(v, dict, "dimensionality", what, false);
    out.total_elements_added = opt_int(v, dict, "total_elements_added", what, false).value_or(0);
    out.max_seq_id = opt_int(v, dict, "max_seq_id", what, false);

    auto id_to_label = v.dict_get(dict, "id_to_label");
    auto label_to_id = v.dict_get(dict, "label_to_id");
    if (!id_to_label) shape_error(what, "id_to_label", "missing");
    if (!label_to_id) shape_error(what, "label_to_id", "missing");
    const Node &il = expect(v, *id_to_label, Kind::dict, what, "id_to_label");
    const Node &li = expect(v, *label_to_id, Kind::dict, what, "label_to_id");
    out.id_to_label.reserve(il.entries.size());
    for (const auto &[k, val] : il.entries) {
        const Node &kn = expect(v, k, Kind::string, what, "id_to_label key");
        const Node &vn = expect(v, val, Kind::integer, what, fmt::format("id_to_label['{}']", kn.s));
        if (vn.i < 0) shape_error(what, fmt::format("id_to_label['{}']", kn.s), fmt::format("negative label {}", vn.i));
        out.id_to_label[kn.s] = uint64_t(vn.i);
    }
    out.label_to_id.reserve(li.entries.size());
    for (const auto &[k, val] : li.entries) {
        const Node &kn = expect(v, k, Kind::integer, what, "label_to_id key");
        const Node &vn = expect(v, val, Kind::string, what, fmt::format("label_to_id[{}]", kn.i));
        if (kn.i < 0) shape_error(what, "label_to_id", fmt::format("negative label {}", kn.i));
        out.label_to_id[uint64_t(kn.i)] = vn.s;
    }
    if (out.id_to_label.size() != out.label_to_id.size())
        shape_error(what, "id_to_label/label_to_id",
                    fmt::format("maps disagree: {} ids vs {} labels", out.id_to_label.size(), out.label_to_id.size()));
    for (const auto &[id, label] : out.id_to_label) {
        auto it = out.label_to_id.find(label);
        if (it == out.label_to_id.end() || it->second != id)
            shape_error(what, "id_to_label/label_to_id",
                        fmt::format("maps disagree for id '{}' (label {})", id, label));
    }
    if (auto s = v.dict_get(dict, "id_to_seq_id")) {
        const Node &sn = v.node(*s);
        if (sn.kind == Kind::dict) {
            out.id_to_seq_id.reserve(sn.entries.size());
            for (const auto &[k, val] : sn.entries) {
                const Node &kn = expect(v, k, Kind::string, what, "id_to_seq_id key");
                const Node &vn = expect(v, val, Kind::integer, what, fmt::format("id_to_seq_id['{}']", kn.s));
                out.id_to_seq_id[kn.s] = vn.i;
            }
        } else if (sn.kind != Kind::none) {
            shape_error(what, "id_to_seq_id", fmt::format("expected dict or None, found {}", Value::kind_name(sn.kind)));
        }
    }
    return out;
}

IndexMetadata read_index_metadata(const uint8_t *data, size_t size, const std::string &what) {
    return extract_index_metadata(parse(data, size, what), what);
}

} // namespace c2p::unpickle
