#include "sources/persistent/pickle_reader.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/error.hpp"

namespace c2p::unpickle {

namespace {

enum Tag : uint64_t {
    T_NONE, T_BOOL, T_INT, T_BIGINT, T_FLOAT, T_STR, T_LONGSTR, T_LIST, T_TUPLE, T_DICT, T_GLOBAL, T_OBJECT
};
constexpr uint64_t kPayloadBits = 60;
constexpr uint64_t kPayloadMask = (uint64_t(1) << kPayloadBits) - 1;
constexpr uint64_t kStrLenBits = 24;
constexpr uint64_t kStrMaxLen = (uint64_t(1) << kStrLenBits) - 1;
constexpr uint64_t kStrMaxOffset = (uint64_t(1) << (kPayloadBits - kStrLenBits)) - 1;
constexpr int64_t kSmallIntMin = -(int64_t(1) << 59), kSmallIntMax = (int64_t(1) << 59) - 1;

Ref make_ref(uint64_t tag, uint64_t payload) { return Ref{(tag << kPayloadBits) | (payload & kPayloadMask)}; }
uint64_t tag_of(Ref r) { return r.bits >> kPayloadBits; }
uint64_t payload_of(Ref r) { return r.bits & kPayloadMask; }

} // namespace

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

Kind Value::kind(Ref r) const {
    switch (tag_of(r)) {
    case T_NONE: return Kind::none;
    case T_BOOL: return Kind::boolean;
    case T_INT:
    case T_BIGINT: return Kind::integer;
    case T_FLOAT: return Kind::floating;
    case T_STR:
    case T_LONGSTR: return Kind::string;
    case T_LIST: return Kind::list;
    case T_TUPLE: return Kind::tuple;
    case T_DICT: return Kind::dict;
    case T_GLOBAL: return Kind::global;
    case T_OBJECT: return Kind::object;
    }
    return Kind::none;
}

int64_t Value::integer(Ref r) const {
    switch (tag_of(r)) {
    case T_BOOL: return int64_t(payload_of(r));
    case T_INT: return int64_t(payload_of(r) << (64 - kPayloadBits)) >> (64 - kPayloadBits);
    case T_BIGINT: return big_ints_.at(payload_of(r));
    default: return 0;
    }
}

double Value::floating(Ref r) const { return tag_of(r) == T_FLOAT ? floats_.at(payload_of(r)) : 0.0; }

std::string_view Value::str(Ref r) const {
    switch (tag_of(r)) {
    case T_STR: {
        uint64_t p = payload_of(r);
        return {reinterpret_cast<const char *>(input_) + (p >> kStrLenBits), size_t(p & kStrMaxLen)};
    }
    case T_LONGSTR: {
        auto [off, len] = long_strings_.at(payload_of(r));
        return {reinterpret_cast<const char *>(input_) + off, size_t(len)};
    }
    case T_GLOBAL: return globals_.at(payload_of(r));
    default: return {};
    }
}

const Value::Container &Value::container(Ref r) const {
    static const Container empty;
    uint64_t t = tag_of(r);
    if (t == T_LIST || t == T_TUPLE || t == T_DICT || t == T_OBJECT) return containers_.at(payload_of(r));
    return empty;
}

const std::vector<Ref> &Value::items(Ref r) const { return container(r).items; }
const std::vector<std::pair<Ref, Ref>> &Value::entries(Ref r) const { return container(r).entries; }
Ref Value::cls(Ref object) const { return container(object).cls; }
std::optional<Ref> Value::state(Ref object) const { return container(object).state; }

std::optional<Ref> Value::dict_get(Ref dict, std::string_view key) const {
    if (kind(dict) != Kind::dict) return std::nullopt;
    for (const auto &[k, v] : entries(dict))
        if (kind(k) == Kind::string && str(k) == key) return v;
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
        : d_(data), n_(size), what_(what), lim_(limits) {
        v_.input_ = data;
    }

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
    std::vector<Ref> stack_;
    std::vector<size_t> marks_;
    // Memo: dense for the indexes MEMOIZE hands out (0, 1, 2, …), a map for sparse BINPUT indexes.
    std::vector<Ref> memo_;
    std::vector<bool> memo_set_;
    std::unordered_map<uint64_t, Ref> memo_sparse_;
    size_t memo_count_ = 0;
    size_t values_ = 0;
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
    void count_value() {
        if (++values_ > lim_.max_nodes) bad("too many values");
    }
    Ref make_container(uint64_t tag) {
        count_value();
        v_.containers_.emplace_back();
        return make_ref(tag, v_.containers_.size() - 1);
    }
    Value::Container &at(Ref r) { return v_.containers_[payload_of(r)]; }
    Kind kind(Ref r) const { return v_.kind(r); }
    Ref integer(int64_t x) {
        count_value();
        if (x >= kSmallIntMin && x <= kSmallIntMax) return make_ref(T_INT, uint64_t(x));
        v_.big_ints_.push_back(x);
        return make_ref(T_BIGINT, v_.big_ints_.size() - 1);
    }
    void push(Ref r) {
        if (stack_.size() >= lim_.max_stack) bad("stack too deep");
        stack_.push_back(r);
    }
    Ref pop(const char *opname) {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() <= floor) bad(fmt::format("{} on an empty stack", opname));
        Ref r = stack_.back();
        stack_.pop_back();
        return r;
    }
    Ref top(const char *opname) {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() <= floor) bad(fmt::format("{} on an empty stack", opname));
        return stack_.back();
    }
    // The values above the last MARK: [begin, stack_.size()). close_mark() drops them and the mark.
    size_t mark_begin(const char *opname) {
        if (marks_.empty()) bad(fmt::format("{} without MARK", opname));
        return marks_.back();
    }
    void close_mark(size_t begin) {
        stack_.resize(begin);
        marks_.pop_back();
    }
    void count_items(size_t k) {
        container_items_ += k;
        if (container_items_ > lim_.max_container_items) bad("too many container items");
    }
    void memo_put(uint64_t idx) {
        Ref t = top("memo put");
        if (idx < memo_.size()) {
            if (!memo_set_[idx]) ++memo_count_;
            memo_[idx] = t;
            memo_set_[idx] = true;
        } else if (idx - memo_.size() < 4096) {
            memo_.resize(idx + 1);
            memo_set_.resize(idx + 1);
            memo_[idx] = t;
            memo_set_[idx] = true;
            ++memo_count_;
        } else {
            if (!memo_sparse_.count(idx)) ++memo_count_;
            memo_sparse_[idx] = t;
        }
        if (memo_count_ > lim_.max_memo) bad("memo too large");
    }
    void memo_get(uint64_t idx) {
        if (idx < memo_.size() && memo_set_[idx]) return push(memo_[idx]);
        auto it = memo_sparse_.find(idx);
        if (it == memo_sparse_.end()) bad(fmt::format("memo key {} not defined", idx));
        push(it->second);
    }
    void string_op(size_t len) {
        size_t off = pos_;
        take(len);
        count_value();
        if (off <= kStrMaxOffset && len <= kStrMaxLen) return push(make_ref(T_STR, (uint64_t(off) << kStrLenBits) | len));
        v_.long_strings_.emplace_back(off, len);
        push(make_ref(T_LONGSTR, v_.long_strings_.size() - 1));
    }
    Ref make_tuple(size_t begin, size_t end) {
        count_items(end - begin);
        Ref r = make_container(T_TUPLE);
        at(r).items.assign(stack_.begin() + std::ptrdiff_t(begin), stack_.begin() + std::ptrdiff_t(end));
        return r;
    }
    void set_items(Ref dict, size_t begin, size_t end, const char *opname) {
        if (kind(dict) != Kind::dict) bad(fmt::format("{} on a {} (expected dict)", opname, Value::kind_name(kind(dict))));
        if ((end - begin) % 2) bad(fmt::format("{} with an odd number of items ({})", opname, end - begin));
        count_items((end - begin) / 2);
        auto &dst = at(dict).entries;
        for (size_t i = begin; i < end; i += 2) {
            Kind kk = kind(stack_[i]);
            if (kk != Kind::string && kk != Kind::integer && kk != Kind::boolean && kk != Kind::none &&
                kk != Kind::floating && kk != Kind::tuple)
                bad(fmt::format("{}: unhashable dict key of type {}", opname, Value::kind_name(kk)));
            dst.emplace_back(stack_[i], stack_[i + 1]);
        }
    }
    void append_items(Ref list, size_t begin, size_t end, const char *opname) {
        if (kind(list) != Kind::list) bad(fmt::format("{} on a {} (expected list)", opname, Value::kind_name(kind(list))));
        count_items(end - begin);
        auto &dst = at(list).items;
        dst.insert(dst.end(), stack_.begin() + std::ptrdiff_t(begin), stack_.begin() + std::ptrdiff_t(end));
    }
    void make_global(std::string text) {
        count_value();
        v_.globals_.push_back(std::move(text));
        push(make_ref(T_GLOBAL, v_.globals_.size() - 1));
    }
    std::string read_line() {
        size_t start = pos_;
        while (pos_ < n_ && d_[pos_] != '\n') ++pos_;
        if (pos_ >= n_) truncated(1);
        std::string s(reinterpret_cast<const char *>(d_ + start), pos_ - start);
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
        case NONE: count_value(); push(make_ref(T_NONE, 0)); return false;
        case NEWTRUE:
        case NEWFALSE: count_value(); push(make_ref(T_BOOL, op == NEWTRUE)); return false;
        case BININT: push(integer(int32_t(uint32_t(le(4))))); return false;
        case BININT1: push(integer(int64_t(le(1)))); return false;
        case BININT2: push(integer(int64_t(le(2)))); return false;
        case LONG1: {
            size_t len = take(1)[0];
            if (len > 8) bad(fmt::format("LONG1 integer of {} bytes does not fit 64 bits", len));
            uint64_t x = le(len);
            if (len > 0 && len < 8 && (x >> (8 * len - 1)) & 1) x |= ~uint64_t(0) << (8 * len); // sign-extend
            push(integer(int64_t(x)));
            return false;
        }
        case BINFLOAT: {
            const uint8_t *p = take(8);
            uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i]; // big-endian
            double f;
            std::memcpy(&f, &bits, 8);
            count_value();
            v_.floats_.push_back(f);
            push(make_ref(T_FLOAT, v_.floats_.size() - 1));
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
        case EMPTY_DICT: push(make_container(T_DICT)); return false;
        case EMPTY_LIST: push(make_container(T_LIST)); return false;
        case EMPTY_TUPLE: push(make_container(T_TUPLE)); return false;
        case TUPLE: {
            size_t b = mark_begin("TUPLE");
            Ref t = make_tuple(b, stack_.size());
            close_mark(b);
            push(t);
            return false;
        }
        case TUPLE1:
        case TUPLE2:
        case TUPLE3: {
            size_t k = size_t(op - TUPLE1 + 1);
            size_t floor = marks_.empty() ? 0 : marks_.back();
            if (stack_.size() < floor + k) bad("TUPLEn on an empty stack");
            Ref t = make_tuple(stack_.size() - k, stack_.size());
            stack_.resize(stack_.size() - k);
            push(t);
            return false;
        }
        case SETITEM: {
            size_t floor = marks_.empty() ? 0 : marks_.back();
            if (stack_.size() < floor + 3) bad("SETITEM on an empty stack");
            size_t b = stack_.size() - 2;
            set_items(stack_[b - 1], b, b + 2, "SETITEM");
            stack_.resize(b);
            return false;
        }
        case SETITEMS: {
            size_t b = mark_begin("SETITEMS");
            if (b == 0 || (marks_.size() >= 2 && marks_[marks_.size() - 2] >= b)) bad("SETITEMS on an empty stack");
            set_items(stack_[b - 1], b, stack_.size(), "SETITEMS");
            close_mark(b);
            return false;
        }
        case APPEND: {
            size_t floor = marks_.empty() ? 0 : marks_.back();
            if (stack_.size() < floor + 2) bad("APPEND on an empty stack");
            size_t b = stack_.size() - 1;
            append_items(stack_[b - 1], b, b + 1, "APPEND");
            stack_.resize(b);
            return false;
        }
        case APPENDS: {
            size_t b = mark_begin("APPENDS");
            if (b == 0 || (marks_.size() >= 2 && marks_[marks_.size() - 2] >= b)) bad("APPENDS on an empty stack");
            append_items(stack_[b - 1], b, stack_.size(), "APPENDS");
            close_mark(b);
            return false;
        }
        case MEMOIZE: memo_put(memo_count_); return false;
        case BINPUT: memo_put(le(1)); return false;
        case LONG_BINPUT: memo_put(le(4)); return false;
        case BINGET: memo_get(le(1)); return false;
        case LONG_BINGET: memo_get(le(4)); return false;
        case GLOBAL: {
            std::string module = read_line();
            std::string name = read_line();
            make_global(module + "." + name);
            return false;
        }
        case STACK_GLOBAL: {
            Ref name = pop("STACK_GLOBAL");
            Ref module = pop("STACK_GLOBAL");
            if (kind(name) != Kind::string || kind(module) != Kind::string) bad("STACK_GLOBAL needs two strings");
            make_global(std::string(v_.str(module)) + "." + std::string(v_.str(name)));
            return false;
        }
        case NEWOBJ:
        case REDUCE: {
            const char *nm = op == NEWOBJ ? "NEWOBJ" : "REDUCE";
            Ref args = pop(nm);
            Ref cls = pop(nm);
            if (kind(cls) != Kind::global) bad(fmt::format("{} on a {} (expected a class)", nm, Value::kind_name(kind(cls))));
            if (kind(args) != Kind::tuple)
                bad(fmt::format("{} with {} arguments (expected tuple)", nm, Value::kind_name(kind(args))));
            Ref obj = make_container(T_OBJECT);
            at(obj).cls = cls;
            at(obj).items = at(args).items;
            push(obj);
            return false;
        }
        case BUILD: {
            Ref state = pop("BUILD");
            Ref obj = top("BUILD");
            if (kind(obj) != Kind::object) bad(fmt::format("BUILD on a {} (expected an object)", Value::kind_name(kind(obj))));
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

void expect(const Value &v, Ref r, Kind k, const std::string &what, const std::string &field) {
    if (v.kind(r) != k)
        shape_error(what, field, fmt::format("expected {}, found {}", Value::kind_name(k), Value::kind_name(v.kind(r))));
}

// For the per-entry checks: the field's name is only formatted when the check fails.
template <class Field> void expect_entry(const Value &v, Ref r, Kind k, const std::string &what, Field &&field) {
    if (v.kind(r) != k) expect(v, r, k, what, field());
}

std::optional<int64_t> opt_int(const Value &v, Ref dict, const char *key, const std::string &what) {
    auto f = v.dict_get(dict, key);
    if (!f) return std::nullopt;
    Kind k = v.kind(*f);
    if (k == Kind::none) return std::nullopt;
    if (k != Kind::integer) shape_error(what, key, fmt::format("expected int or None, found {}", Value::kind_name(k)));
    return v.integer(*f);
}

// Labels handed out as 1, 2, 3, … (Chroma's), in any order: each pair goes straight to its place, in
// one pass, the later of two with one label taking it. False when the labels are not that dense.
bool place_dense_labels(std::vector<IdLabel> &pairs) {
    if (pairs.empty() || pairs.size() > UINT32_MAX) return false;
    auto [lo, hi] = std::minmax_element(pairs.begin(), pairs.end(),
                                        [](const IdLabel &a, const IdLabel &b) { return a.label < b.label; });
    const uint64_t span = hi->label - lo->label;
    if (span >= pairs.size()) return false;
    const uint64_t base = lo->label;
    std::vector<uint32_t> at(size_t(span) + 1, 0); // 1 + the index of the pair holding label base + k
    for (size_t i = 0; i < pairs.size(); ++i) at[size_t(pairs[i].label - base)] = uint32_t(i + 1);
    std::vector<IdLabel> placed;
    placed.reserve(pairs.size());
    for (uint32_t i : at)
        if (i) placed.push_back(pairs[i - 1]);
    pairs = std::move(placed);
    return true;
}

// Sorts (id, label) pairs by label in place; of a repeated label the last entry wins, as in Python.
void sort_by_label(std::vector<IdLabel> &pairs) {
    auto by_label = [](const IdLabel &a, const IdLabel &b) { return a.label < b.label; };
    // Often the dict is in label order already; Chroma 1.x writes it in hash order.
    if (!std::is_sorted(pairs.begin(), pairs.end(), by_label) && !place_dense_labels(pairs))
        std::stable_sort(pairs.begin(), pairs.end(), by_label);
    size_t out = 0;
    for (size_t i = 0; i < pairs.size(); ++i)
        if (i + 1 == pairs.size() || pairs[i + 1].label != pairs[i].label) pairs[out++] = pairs[i];
    pairs.resize(out);
}

} // namespace

const IdLabel *IndexMetadata::find_label(uint64_t label) const {
    if (by_label.empty()) return nullptr;
    // Chroma hands out labels 1, 2, 3, …: try the dense position before searching.
    uint64_t guess = label - by_label.front().label;
    if (label >= by_label.front().label && guess < by_label.size() && by_label[guess].label == label) return &by_label[guess];
    auto it = std::lower_bound(by_label.begin(), by_label.end(), label,
                               [](const IdLabel &e, uint64_t l) { return e.label < l; });
    return it != by_label.end() && it->label == label ? &*it : nullptr;
}

IndexMetadata extract_index_metadata(const Value &v, const std::string &what) {
    IndexMetadata out;
    out.protocol = v.protocol();
    Ref dict = v.root();
    Kind rk = v.kind(dict);
    if (rk == Kind::object) {
        std::string_view name = v.str(v.cls(dict));
        auto dot = name.rfind('.');
        std::string_view simple = dot == std::string_view::npos ? name : name.substr(dot + 1);
        if (simple != "PersistentData") shape_error(what, "root", fmt::format("unexpected class '{}'", name));
        auto st = v.state(dict);
        if (!st) shape_error(what, "PersistentData", "no state (BUILD missing)");
        dict = *st;
        expect(v, dict, Kind::dict, what, "PersistentData.__dict__");
        out.shape = "PersistentData";
    } else if (rk == Kind::dict) {
        out.shape = "dict";
    } else {
        shape_error(what, "root", fmt::format("expected dict or PersistentData, found {}", Value::kind_name(rk)));
    }
    out.dimensionality = opt_int(v, dict, "dimensionality", what);
    out.total_elements_added = opt_int(v, dict, "total_elements_added", what).value_or(0);
    out.max_seq_id = opt_int(v, dict, "max_seq_id", what);

    auto id_to_label = v.dict_get(dict, "id_to_label");
    auto label_to_id = v.dict_get(dict, "label_to_id");
    if (!id_to_label) shape_error(what, "id_to_label", "missing");
    if (!label_to_id) shape_error(what, "label_to_id", "missing");
    expect(v, *id_to_label, Kind::dict, what, "id_to_label");
    expect(v, *label_to_id, Kind::dict, what, "label_to_id");

    std::vector<IdLabel> &il = out.by_label;
    il.reserve(v.entries(*id_to_label).size());
    for (const auto &[k, val] : v.entries(*id_to_label)) {
        expect(v, k, Kind::string, what, "id_to_label key");
        std::string_view id = v.str(k);
        expect_entry(v, val, Kind::integer, what, [&] { return fmt::format("id_to_label['{}']", id); });
        if (v.integer(val) < 0) shape_error(what, fmt::format("id_to_label['{}']", id), fmt::format("negative label {}", v.integer(val)));
        il.push_back({id, uint64_t(v.integer(val))});
    }
    // id_to_label keys are unique in a dict Chroma wrote; two ids with one label show up here, and
    // everything else as disagreement with label_to_id, whose keys are the labels.
    size_t il_entries = il.size();
    sort_by_label(il);
    if (il.size() != il_entries)
        shape_error(what, "id_to_label/label_to_id",
                    fmt::format("maps disagree: {} ids share {} labels", il_entries, il.size()));
    const auto &li = v.entries(*label_to_id);
    for (const auto &[k, val] : li) {
        expect(v, k, Kind::integer, what, "label_to_id key");
        expect_entry(v, val, Kind::string, what, [&v, key = k] { return fmt::format("label_to_id[{}]", v.integer(key)); });
        if (v.integer(k) < 0) shape_error(what, "label_to_id", fmt::format("negative label {}", v.integer(k)));
        const IdLabel *e = out.find_label(uint64_t(v.integer(k)));
        if (!e || e->id != v.str(val)) {
            shape_error(what, "id_to_label/label_to_id",
                        e ? fmt::format("maps disagree for id '{}' (label {})", e->id, e->label)
                          : fmt::format("maps disagree for label {} (id '{}' in label_to_id only)", v.integer(k), v.str(val)));
        }
    }
    if (li.size() != il.size())
        shape_error(what, "id_to_label/label_to_id", fmt::format("maps disagree: {} ids vs {} labels", il.size(), li.size()));
    if (auto s = v.dict_get(dict, "id_to_seq_id")) {
        Kind sk = v.kind(*s);
        if (sk == Kind::dict) {
            for (const auto &[k, val] : v.entries(*s)) {
                expect(v, k, Kind::string, what, "id_to_seq_id key");
                expect_entry(v, val, Kind::integer, what, [&v, key = k] { return fmt::format("id_to_seq_id['{}']", v.str(key)); });
            }
            out.id_to_seq_id_entries = v.entries(*s).size();
        } else if (sk != Kind::none) {
            shape_error(what, "id_to_seq_id", fmt::format("expected dict or None, found {}", Value::kind_name(sk)));
        }
    }
    return out;
}

IndexMetadata read_index_metadata(const uint8_t *data, size_t size, const std::string &what) {
    return extract_index_metadata(parse(data, size, what), what);
}

} // namespace c2p::unpickle
