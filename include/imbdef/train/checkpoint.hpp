#pragma once
// Checkpoints as safetensors files, readable by Python's `safetensors` with no code of ours:
//
//   8 bytes     N, the header length, unsigned little-endian
//   N bytes     a JSON object: for every tensor {"dtype": "F32" | "F64", "shape": [...],
//               "data_offsets": [begin, end)} with offsets relative to the data below, and
//               "__metadata__", a map of strings to strings; padded with spaces to a multiple of 8
//   the data    raw little-endian tensors, contiguous, with no holes, in offset order
//
// A checkpoint holds several named groups ("G", "G_ema", "D", "G_opt.m", ...): tensor `x` of a
// group is stored as "<group>.<x>", x being the layout's dotted name. imbdef's own metadata (preset,
// policies, config, step, images seen, RNG offsets, ADA p) is one JSON document stored as a string
// under the metadata key "imbdef", since safetensors metadata values can only be strings.
//
// The writer assembles the file in memory and writes it with core::write_file_atomically (temp
// file, fsync, rename), so a reader sees the old checkpoint or the complete new one. The reader
// validates the whole header against the file size when it opens a file, and loads a group only
// after every tensor of the layout has been found with the declared shape and dtype: on any
// error the destination is untouched and imbdef::error names the file and the first problem.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../nn/parameters.hpp"

namespace imbdef::train {

static_assert(std::endian::native == std::endian::little,
              "imbdef checkpoints copy tensors byte for byte into little-endian safetensors files; "
              "a big-endian host would need byte swapping");

using core::index_t;

// The metadata key under which imbdef stores its JSON document.
inline constexpr std::string_view metadata_key = "imbdef";

// The safetensors element types of whole bytes, with their sizes. Only F32 and F64 are loaded
// into tensors; the others are recognised so that any valid file can be validated and listed.
inline constexpr std::pair<std::string_view, std::size_t> safetensors_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
    {"F32", 4},  {"F64", 8}, {"I64", 8}, {"U64", 8},
};

// Bytes per element of a safetensors dtype, or nothing for a name the format does not define.
inline std::optional<std::size_t> safetensors_dtype_size(std::string_view dtype) noexcept {
    for (const auto& [name, size] : safetensors_dtypes)
        if (name == dtype) return size;
    return std::nullopt;
}

template <class T>
inline constexpr std::string_view safetensors_dtype_of = [] {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "imbdef checkpoints store float (F32) and double (F64) tensors");
    return std::is_same_v<T, float> ? std::string_view("F32") : std::string_view("F64");
}();

// A header entry of a checkpoint, as validated by checkpoint_reader.
struct tensor_record {
    std::string name;
    std::string dtype;
    std::vector<std::uint64_t> shape;  // any rank, as the format allows
    std::uint64_t begin = 0;           // byte offsets relative to the data after the header
    std::uint64_t end = 0;

    std::string shape_string() const {
        std::string s = "[";
        for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }
};

namespace detail {
inline bool has_group_prefix(std::string_view name, std::string_view group) noexcept {
    return name.size() > group.size() + 1 && name.substr(0, group.size()) == group && name[group.size()] == '.';
}

inline std::string load_where(std::string_view group, const std::filesystem::path& path) {
    return "load group '" + std::string(group) + "' from checkpoint " + path.string();
}
}  // namespace detail

// Collects named tensors and metadata, then writes one safetensors file. The writer refers to the
// tensors' memory without copying it: the data must stay alive and unchanged until write() or
// serialize() returns.
class checkpoint_writer {
public:
    // One tensor under its full name. Names are unique, non-empty, not "__metadata__", and not
    // inside a group's namespace ("<group>.").
    template <class T>
    void add(std::string name, core::view<T> data) {
        const std::string_view dtype = safetensors_dtype_of<std::remove_const_t<T>>;
        require_free_name(name);
        entries_.push_back({std::move(name), dtype, data.shape(), reinterpret_cast<const std::byte*>(data.data()),
                            data.bytes()});
    }
    template <class T>
    void add(std::string name, const core::tensor<T>& data) {
        add(std::move(name), data.cview());
    }

    // Every tensor of `views`' layout, trained parameters and buffers alike, as "<group>.<name>".
    template <class T>
    void add_group(std::string_view group, nn::parameter_views<T> views) {
        claim_group(group);
        for (const auto& e : views.layout().entries()) add_entry(group, e, views.flat(e.role).data());
    }
    template <class T>
    void add_group(std::string_view group, const nn::parameter_store<T>& store) {
        add_group(group, store.views());
    }

    // The tensors of one role of `layout`, read from flat storage laid out by it: an optimiser's
    // moments over the trained parameters, for example ("G_opt.m").
    template <class T>
    void add_group(std::string_view group, const nn::parameter_layout& layout, nn::tensor_role role,
                   core::view<T> flat) {
        IMBDEF_REQUIRE(flat.numel() == layout.size(role), "checkpoint group '" + std::string(group) + "'",
                       std::to_string(layout.size(role)) + " flat " + std::string(nn::to_string(role)) + " elements",
                       std::to_string(flat.numel()));
        claim_group(group);
        for (const auto& e : layout.entries())
            if (e.role == role) add_entry(group, e, flat.data());
    }

    // A metadata string; safetensors allows nothing but strings here.
    void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }
    // imbdef's metadata document, stored as a string under metadata_key.
    void set_json_metadata(const nlohmann::json& document) { metadata_[std::string(metadata_key)] = document.dump(); }
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

    // The whole file. Tensors are laid out F64 before F32 (each in the order added), so every
    // tensor is naturally aligned in a file mapped into memory.
    std::vector<std::byte> serialize() const {
        std::vector<const entry*> order;
        for (const auto& e : entries_) order.push_back(&e);
        std::stable_sort(order.begin(), order.end(), [](const entry* a, const entry* b) {
            return *safetensors_dtype_size(a->dtype) > *safetensors_dtype_size(b->dtype);
        });

        nlohmann::ordered_json header = nlohmann::ordered_json::object();
        if (!metadata_.empty()) header["__metadata__"] = metadata_;
        std::uint64_t offset = 0;
        for (const entry* e : order) {
            auto& h = header[e->name];
            h["dtype"] = e->dtype;
            h["shape"] = nlohmann::ordered_json::array();
            for (const index_t d : e->shape.dims()) h["shape"].push_back(static_cast<std::uint64_t>(d));
            h["data_offsets"] = {offset, offset + e->bytes};
            offset += e->bytes;
        }
        std::string text;
        try {
            text = header.dump();
        } catch (const nlohmann::json::exception& ex) {
            throw imbdef::error("checkpoint header", "tensor names and metadata in valid UTF-8", ex.what());
        }
        text.append((8 - text.size() % 8) % 8, ' ');

        std::vector<std::byte> out(8 + text.size() + offset);
        const std::uint64_t n = text.size();
        for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xffu);
        std::memcpy(out.data() + 8, text.data(), text.size());
        std::byte* data = out.data() + 8 + text.size();
        for (const entry* e : order) {
            if (e->bytes) std::memcpy(data, e->data, e->bytes);
            data += e->bytes;
        }
        return out;
    }

    // Writes the file atomically: readers of `path` see the old file or the new one, never a part.
    // A writer of `path` killed mid-write (a training run stopped with kill -9 during a snapshot)
    // left its temporary beside it: removed here, so that runs resumed after kills do not pile
    // up checkpoint-sized files.
    void write(const std::filesystem::path& path) const {
        const std::vector<std::byte> bytes = serialize();
        core::write_file_atomically(path, bytes);
        core::remove_abandoned_temporaries(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."),
                                           path.filename().string());
    }

private:
    struct entry {
        std::string name;
        std::string_view dtype;
        core::shape shape;
        const std::byte* data;
        std::size_t bytes;
    };

    template <class T>
    void add_entry(std::string_view group, const nn::parameter_entry& e, const T* base) {
        const std::string name = std::string(group) + "." + e.name;
        IMBDEF_REQUIRE(!find(name), "checkpoint_writer::add_group", "unique tensor names", "'" + name + "' twice");
        entries_.push_back({name, safetensors_dtype_of<std::remove_const_t<T>>, e.shape,
                            reinterpret_cast<const std::byte*>(base + e.offset),
                            static_cast<std::size_t>(e.shape.numel()) * sizeof(T)});
    }

    const entry* find(std::string_view name) const noexcept {
        for (const auto& e : entries_)
            if (e.name == name) return &e;
        return nullptr;
    }

    void require_free_name(const std::string& name) const {
        IMBDEF_REQUIRE(!name.empty() && name != "__metadata__", "checkpoint_writer::add",
                       "a non-empty tensor name other than '__metadata__'", "'" + name + "'");
        IMBDEF_REQUIRE(!find(name), "checkpoint_writer::add", "unique tensor names", "'" + name + "' twice");
        for (const auto& g : groups_)
            IMBDEF_REQUIRE(!detail::has_group_prefix(name, g), "checkpoint_writer::add",
                           "a name outside the namespace '" + g + ".' of group '" + g + "'", "'" + name + "'");
    }

    // A group owns the names "<group>.*" so that a reader can tell exactly which tensors belong to
    // it; groups therefore may not nest ("G" and "G.ema") or share names with single tensors.
    void claim_group(std::string_view group) {
        const std::string g(group);
        IMBDEF_REQUIRE(!g.empty() && g.front() != '.' && g.back() != '.' && g != "__metadata__",
                       "checkpoint_writer::add_group", "a non-empty group name not starting or ending with '.'",
                       "'" + g + "'");
        for (const auto& other : groups_)
            IMBDEF_REQUIRE(other != g && !detail::has_group_prefix(g, other) && !detail::has_group_prefix(other, g),
                           "checkpoint_writer::add_group", "a group name that is new and not nested in another",
                           "'" + g + "' beside group '" + other + "'");
        for (const auto& e : entries_)
            IMBDEF_REQUIRE(!detail::has_group_prefix(e.name, g), "checkpoint_writer::add_group",
                           "no tensor added before inside the namespace '" + g + ".'", "'" + e.name + "'");
        groups_.push_back(g);
    }

    std::vector<entry> entries_;
    std::vector<std::string> groups_;
    std::map<std::string, std::string> metadata_;
};

// Opens a safetensors file, validates it completely, and reads tensors and groups from it.
//
// Validation at construction: the header length fits the file (and safetensors' 100 MB limit);
// the header is a JSON object beginning with '{' with no duplicate names; every tensor has a known
// dtype, a shape of non-negative integers and two data offsets; shape product times dtype size is
// the byte count; sorted by offset the tensors are contiguous, start at 0 and end exactly at the
// end of the file; "__metadata__", when present, maps strings to strings.
class checkpoint_reader {
public:
    static constexpr std::uint64_t max_header_bytes = 100'000'000;

    explicit checkpoint_reader(std::filesystem::path path) : path_(std::move(path)) {
        const std::string where = "checkpoint " + path_.string();
        std::error_code ec;
        const std::uintmax_t file_size = std::filesystem::file_size(path_, ec);
        IMBDEF_REQUIRE(!ec, where, "a readable safetensors file", ec.message());
        file_.open(path_, std::ios::binary);
        IMBDEF_REQUIRE(file_.is_open(), where, "a readable safetensors file", "a file that cannot be opened");

        IMBDEF_REQUIRE(file_size >= 8, where, "at least 8 bytes (the header length)",
                       std::to_string(file_size) + " bytes: the file is truncated or not a safetensors file");
        unsigned char len[8];
        read_at(0, len, 8);
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
        IMBDEF_REQUIRE(n <= file_size - 8, where,
                       "a header length within the file (at most " + std::to_string(file_size - 8) + " bytes)",
                       "a header length of " + std::to_string(n) + " bytes: the file is truncated or not a safetensors file");
        IMBDEF_REQUIRE(n <= max_header_bytes, where,
                       "a header of at most " + std::to_string(max_header_bytes) + " bytes",
                       std::to_string(n) + " bytes");
        IMBDEF_REQUIRE(n >= 2, where, "a JSON header of at least 2 bytes", std::to_string(n) + " bytes");
        std::string text(n, '\0');
        read_at(8, text.data(), n);
        data_start_ = 8 + n;
        data_size_ = file_size - 8 - n;
        parse_header(text, where);
    }

    const std::filesystem::path& path() const noexcept { return path_; }

    // The tensors in data order.
    const std::vector<tensor_record>& tensors() const noexcept { return tensors_; }
    const tensor_record* find(std::string_view name) const noexcept {
        const auto it = index_.find(name);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }

    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

    // imbdef's metadata document (the string under metadata_key, parsed).
    nlohmann::json json_metadata() const {
        const std::string where = "checkpoint " + path_.string() + ", metadata '" + std::string(metadata_key) + "'";
        const auto it = metadata_.find(std::string(metadata_key));
        IMBDEF_REQUIRE(it != metadata_.end(), where, "imbdef's metadata entry", "no such entry in __metadata__");
        try {
            return nlohmann::json::parse(it->second);
        } catch (const nlohmann::json::exception& ex) {
            throw imbdef::error(where, "a JSON document", std::string("invalid JSON: ") + ex.what());
        }
    }

    // Reads tensor `name` into `out`, which must have the stored shape and dtype.
    template <class T>
    void read(std::string_view name, core::view<T> out) {
        const tensor_record& r = require_tensor(name, "checkpoint " + path_.string());
        require_match<T>(r, out.shape(), "checkpoint " + path_.string() + ", tensor '" + r.name + "'",
                         "the destination's");
        read_data(r, out.data());
    }

    // Reads tensor `name` into a new tensor; the stored dtype must be T's.
    template <class T>
    core::tensor<T> read(std::string_view name) {
        const std::string where = "checkpoint " + path_.string() + ", tensor '" + std::string(name) + "'";
        const tensor_record& r = require_tensor(name, "checkpoint " + path_.string());
        IMBDEF_REQUIRE(r.dtype == safetensors_dtype_of<T>, where, "dtype " + std::string(safetensors_dtype_of<T>),
                       r.dtype + " in the file");
        IMBDEF_REQUIRE(r.shape.size() <= static_cast<std::size_t>(core::shape::max_rank), where,
                       "rank at most " + std::to_string(core::shape::max_rank), r.shape_string() + " in the file");
        std::vector<index_t> dims(r.shape.begin(), r.shape.end());
        core::tensor<T> out(core::shape(std::span<const index_t>(dims)), core::uninitialized);
        read_data(r, out.data());
        return out;
    }

    bool has_group(std::string_view group) const noexcept {
        return std::any_of(tensors_.begin(), tensors_.end(),
                           [&](const tensor_record& r) { return detail::has_group_prefix(r.name, group); });
    }

    // Loads every tensor of `views`' layout from "<group>.<name>". The group in the file must hold
    // exactly the layout's tensors, with the declared shapes and T's dtype; the first difference
    // (in layout order: a missing tensor, a shape, a dtype; then a tensor the layout does not
    // declare) is an error and nothing is written.
    template <class T>
    void load_group(std::string_view group, nn::parameter_views<T> views) {
        load<T>(group, views.layout(), [&](const nn::parameter_entry& e) { return views.flat(e.role).data(); },
                std::nullopt);
    }
    template <class T>
    void load_group(std::string_view group, nn::parameter_store<T>& store) {
        load_group<T>(group, store.views());
    }

    // Loads the tensors of one role of `layout` into flat storage laid out by it (the counterpart
    // of checkpoint_writer::add_group with a role).
    template <class T>
    void load_group(std::string_view group, const nn::parameter_layout& layout, nn::tensor_role role,
                    core::view<T> flat) {
        IMBDEF_REQUIRE(flat.numel() == layout.size(role), detail::load_where(group, path_),
                       std::to_string(layout.size(role)) + " flat " + std::string(nn::to_string(role)) + " elements",
                       std::to_string(flat.numel()));
        load<T>(group, layout, [&](const nn::parameter_entry&) { return flat.data(); }, role);
    }

private:
    void read_at(std::uint64_t offset, void* dst, std::uint64_t bytes) {
        file_.clear();
        file_.seekg(static_cast<std::streamoff>(offset));
        file_.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
        IMBDEF_REQUIRE(file_ && static_cast<std::uint64_t>(file_.gcount()) == bytes, "checkpoint " + path_.string(),
                       std::to_string(bytes) + " bytes at offset " + std::to_string(offset),
                       "a read that failed or came up short (was the file changed while it was read?)");
    }

    void read_data(const tensor_record& r, void* dst) {
        if (r.end > r.begin) read_at(data_start_ + r.begin, dst, r.end - r.begin);
    }

    const tensor_record& require_tensor(std::string_view name, const std::string& where) const {
        const tensor_record* r = find(name);
        IMBDEF_REQUIRE(r != nullptr, where, "a tensor named '" + std::string(name) + "'", "no such tensor in the file");
        return *r;
    }

    template <class T>
    static void require_match(const tensor_record& r, const core::shape& expected, const std::string& where,
                              const std::string& whose) {
        const bool same_shape =
            r.shape.size() == static_cast<std::size_t>(expected.rank()) &&
            std::equal(r.shape.begin(), r.shape.end(), expected.dims().begin(),
                       [](std::uint64_t a, index_t b) { return a == static_cast<std::uint64_t>(b); });
        IMBDEF_REQUIRE(same_shape, where, "shape " + expected.to_string() + " (" + whose + " shape)",
                       r.shape_string() + " in the file");
        IMBDEF_REQUIRE(r.dtype == safetensors_dtype_of<std::remove_const_t<T>>, where,
                       "dtype " + std::string(safetensors_dtype_of<std::remove_const_t<T>>) + " (" + whose + " type)",
                       r.dtype + " in the file");
    }

    template <class T, class BaseOf>
    void load(std::string_view group, const nn::parameter_layout& layout, BaseOf base_of,
              std::optional<nn::tensor_role> only) {
        const std::string where = detail::load_where(group, path_);
        auto selected = [&](const nn::parameter_entry& e) { return !only || e.role == *only; };
        std::size_t expected = 0;
        for (const auto& e : layout.entries()) {
            if (!selected(e)) continue;
            ++expected;
            const std::string name = std::string(group) + "." + e.name;
            const tensor_record* r = find(name);
            IMBDEF_REQUIRE(r != nullptr, where + ", tensor '" + name + "'",
                           "the " + std::string(nn::to_string(e.role)) + " '" + e.name + "' of shape " +
                               e.shape.to_string() + " that the layout declares",
                           "no such tensor in the file (" + group_summary(group) + ")");
            require_match<T>(*r, e.shape, where + ", tensor '" + name + "'", "the layout's");
        }
        for (const auto& r : tensors_) {
            if (!detail::has_group_prefix(r.name, group)) continue;
            const std::string_view local = std::string_view(r.name).substr(group.size() + 1);
            const auto ref = layout.find(local);
            IMBDEF_REQUIRE(ref && selected(layout[*ref]), where,
                           "only the " + std::to_string(expected) + " tensors the layout declares",
                           "an undeclared tensor '" + r.name + "' " + r.shape_string() + " in the file");
        }
        for (const auto& e : layout.entries())
            if (selected(e)) read_data(*find(std::string(group) + "." + e.name), base_of(e) + e.offset);
    }

    std::string group_summary(std::string_view group) const {
        const auto n = std::count_if(tensors_.begin(), tensors_.end(),
                                     [&](const tensor_record& r) { return detail::has_group_prefix(r.name, group); });
        return "the file's group '" + std::string(group) + "' has " + std::to_string(n) + " tensor(s)";
    }

    void parse_header(const std::string& text, const std::string& where) {
        IMBDEF_REQUIRE(text.front() == '{', where, "a JSON header beginning with '{'",
                       "a header beginning with byte " + std::to_string(static_cast<unsigned char>(text.front())) +
                           ": not a safetensors file");
        std::set<std::string> keys;
        std::string duplicate;
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& key) {
                if (depth == 1 && event == nlohmann::json::parse_event_t::key && duplicate.empty())
                    if (!keys.insert(key.get<std::string>()).second) duplicate = key.get<std::string>();
                return true;
            });
        } catch (const nlohmann::json::exception& ex) {
            throw imbdef::error(where, "a valid JSON header", std::string("invalid JSON: ") + ex.what());
        }
        IMBDEF_REQUIRE(duplicate.empty(), where, "unique names in the header", "'" + duplicate + "' twice");
        IMBDEF_REQUIRE(header.is_object(), where, "a JSON object as the header", std::string(header.type_name()));

        for (const auto& [key, value] : header.items()) {
            if (key == "__metadata__") {
                parse_metadata(value, where);
                continue;
            }
            tensors_.push_back(parse_entry(key, value, where));
        }
        std::sort(tensors_.begin(), tensors_.end(), [](const tensor_record& a, const tensor_record& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        std::uint64_t expected_begin = 0;
        for (const auto& r : tensors_) {
            const std::string at = where + ", tensor '" + r.name + "'";
            IMBDEF_REQUIRE(r.begin == expected_begin && r.end >= r.begin, at,
                           "data_offsets beginning at byte " + std::to_string(expected_begin) +
                               " (contiguous with the tensor before, no holes or overlaps)",
                           "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + "]");
            IMBDEF_REQUIRE(r.end <= data_size_, at,
                           "data within the " + std::to_string(data_size_) + " data bytes of the file",
                           "data_offsets [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
                               "]: the file is truncated");
            expected_begin = r.end;
        }
        IMBDEF_REQUIRE(expected_begin == data_size_, where,
                       "tensor data covering all " + std::to_string(data_size_) + " data bytes of the file",
                       "data ending at byte " + std::to_string(expected_begin) + " (trailing bytes)");
        for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
    }

    void parse_metadata(const nlohmann::json& value, const std::string& where) {
        if (value.is_null()) return;
        IMBDEF_REQUIRE(value.is_object(), where + ", __metadata__", "a map of strings to strings",
                       std::string(value.type_name()));
        for (const auto& [k, v] : value.items()) {
            IMBDEF_REQUIRE(v.is_string(), where + ", __metadata__ '" + k + "'", "a string value",
                           std::string(v.type_name()));
            metadata_.emplace(k, v.get<std::string>());
        }
    }

    static tensor_record parse_entry(const std::string& name, const nlohmann::json& value, const std::string& where) {
        const std::string at = where + ", tensor '" + name + "'";
        IMBDEF_REQUIRE(value.is_object(), at, "an object with dtype, shape and data_offsets",
                       std::string(value.type_name()));
        tensor_record r;
        r.name = name;
        const auto dtype = value.find("dtype");
        IMBDEF_REQUIRE(dtype != value.end() && dtype->is_string(), at, "a dtype string", "none");
        r.dtype = dtype->get<std::string>();
        const auto size = safetensors_dtype_size(r.dtype);
        IMBDEF_REQUIRE(size.has_value(), at, "a known safetensors dtype (F32, F64, F16, BF16, I64, ...)",
                       "'" + r.dtype + "'");
        const auto shape = value.find("shape");
        IMBDEF_REQUIRE(shape != value.end() && shape->is_array(), at, "a shape array", "none");
        std::uint64_t count = 1;
        bool overflow = false;
        for (const auto& d : *shape) {
            IMBDEF_REQUIRE(d.is_number_unsigned(), at, "a shape of non-negative integers", shape->dump());
            r.shape.push_back(d.get<std::uint64_t>());
            overflow = overflow || __builtin_mul_overflow(count, r.shape.back(), &count);
        }
        const auto offsets = value.find("data_offsets");
        IMBDEF_REQUIRE(offsets != value.end() && offsets->is_array() && offsets->size() == 2 &&
                           (*offsets)[0].is_number_unsigned() && (*offsets)[1].is_number_unsigned(),
                       at, "data_offsets [begin, end] of two non-negative integers",
                       offsets == value.end() ? std::string("none") : offsets->dump());
        r.begin = (*offsets)[0].get<std::uint64_t>();
        r.end = (*offsets)[1].get<std::uint64_t>();
        std::uint64_t bytes = 0;
        overflow = overflow || __builtin_mul_overflow(count, *size, &bytes);
        IMBDEF_REQUIRE(!overflow && r.end >= r.begin && r.end - r.begin == bytes, at,
                       overflow ? std::string("a shape whose byte count fits 64 bits")
                                : std::to_string(bytes) + " data bytes (shape " + r.shape_string() + " of " + r.dtype + ")",
                       "data_offsets [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + "]");
        return r;
    }

    std::filesystem::path path_;
    std::ifstream file_;
    std::uint64_t data_start_ = 0;
    std::uint64_t data_size_ = 0;
    std::vector<tensor_record> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace imbdef::train
