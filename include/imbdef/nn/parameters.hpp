#pragma once
// The parameters of a network: declared by name, stored flat.
//
// Modules declare what they need through a registry (a name prefix over a parameter_layout) and
// keep the returned parameter_ref. The layout gives every tensor a stable dotted name
// ("synthesis.L3.affine.weight"), a shape, an initialiser and an offset in one of two flat
// buffers: trained parameters, and buffers carried along but not trained (w_avg, magnitude EMA,
// filters). A parameter_store owns the flat storage; parameter_views binds a layout to any flat
// storage of the right size, so the same modules run on the trained weights, on the EMA copy, and
// read or write gradients with one and the same layout. Optimisers, EMA, checkpoints and
// all-reduce walk one contiguous span. The layout must outlive the stores and views bound to it.
//
// Offsets are rounded up to 16 elements, so every tensor starts on a 64-byte boundary; the gaps
// are zero, receive zero gradients, and stay zero under Adam.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/content_hash.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace imbdef::nn {

using core::index_t;

enum class tensor_role : unsigned char { parameter, buffer };

constexpr std::string_view to_string(tensor_role r) noexcept {
    return r == tensor_role::parameter ? "parameter" : "buffer";
}

// How a tensor is filled at initialisation. `custom` covers what no distribution describes (a
// layer's bias pattern, Fourier frequencies): a function filling the values, in double, from the
// tensor's own Philox stream.
struct initializer {
    using fill_function = std::function<void(core::view<double> values, core::philox_stream rng)>;
    enum class kind : unsigned char { constant, normal, uniform, custom };
    kind k = kind::constant;
    double a = 0;  // constant: the value; normal: the mean; uniform: the lower end
    double b = 0;  // normal: the standard deviation; uniform: the upper end
    fill_function fill{};

    static initializer zeros() { return {kind::constant, 0, 0, {}}; }
    static initializer constant(double v) { return {kind::constant, v, 0, {}}; }
    static initializer normal(double mean, double stddev) { return {kind::normal, mean, stddev, {}}; }
    static initializer uniform(double lo, double hi) { return {kind::uniform, lo, hi, {}}; }
    static initializer custom(fill_function f) { return {kind::custom, 0, 0, std::move(f)}; }
};

// A handle to one declared tensor, valid for the layout that issued it.
struct parameter_ref {
    tensor_role role = tensor_role::parameter;
    std::uint32_t index = 0;
};

struct parameter_entry {
    std::string name;
    core::shape shape;
    tensor_role role;
    initializer init;
    index_t offset;  // in elements, into the flat storage of `role`
};

// The Philox stream of a tensor is derived from its name (64-bit FNV-1a), so adding or removing
// another tensor never changes how this one is initialised.
constexpr std::uint64_t name_hash(std::string_view s) noexcept { return core::fnv1a(s); }

class parameter_layout {
public:
    static constexpr index_t alignment_elements = 16;

    parameter_ref add(std::string name, const core::shape& shape, tensor_role role, initializer init) {
        require_valid_name(name);
        IMBDEF_REQUIRE(!find(name), "parameter_layout::add", "a name not declared before", "'" + name + "' twice");
        const int r = static_cast<int>(role);
        const index_t offset = size_[r];
        size_[r] += (shape.numel() + alignment_elements - 1) / alignment_elements * alignment_elements;
        entries_.push_back({std::move(name), shape, role, init, offset});
        return {role, static_cast<std::uint32_t>(entries_.size() - 1)};
    }

    const parameter_entry& operator[](parameter_ref r) const { return entries_.at(r.index); }
    const std::vector<parameter_entry>& entries() const noexcept { return entries_; }

    // Elements of the flat storage for `role`, gaps included.
    index_t size(tensor_role role) const noexcept { return size_[static_cast<int>(role)]; }

    // Elements that belong to declared tensors of `role` (what a parameter count reports).
    index_t count(tensor_role role) const noexcept {
        index_t n = 0;
        for (const auto& e : entries_)
            if (e.role == role) n += e.shape.numel();
        return n;
    }

    std::optional<parameter_ref> find(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < entries_.size(); ++i)
            if (entries_[i].name == name) return parameter_ref{entries_[i].role, static_cast<std::uint32_t>(i)};
        return std::nullopt;
    }

private:
    static void require_valid_name(const std::string& name) {
        bool ok = !name.empty() && name.front() != '.' && name.back() != '.' &&
                  name.find("..") == std::string::npos;
        for (char c : name)
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                        c == '.');
        IMBDEF_REQUIRE(ok, "parameter_layout::add",
                       "a dotted name of letters, digits and underscores (like 'mapping.fc0.weight')",
                       "'" + name + "'");
    }

    std::vector<parameter_entry> entries_;
    index_t size_[2] = {0, 0};
};

// What a module sees while declaring: the layout under its own name prefix.
//
// A frozen registry (frozen()) declares every parameter as a buffer: a network embedded frozen in
// a larger one (stage 1's background generator inside the defect generator) keeps its own names
// and code, while its weights get no gradient storage, no optimiser state and no gradient writes
// (a module's backward writes parameter gradients through the gradient views of role parameter
// only, and the frozen part is run with parameter gradients off).
class registry {
public:
    explicit registry(parameter_layout& layout, std::string prefix = {}) : layout_(&layout), prefix_(std::move(prefix)) {}

    registry scope(std::string_view name) const { return registry(*layout_, qualify(name), frozen_); }
    registry frozen() const { return registry(*layout_, prefix_, true); }
    bool is_frozen() const noexcept { return frozen_; }

    parameter_ref parameter(std::string_view name, const core::shape& shape, initializer init) const {
        return layout_->add(qualify(name), shape, frozen_ ? tensor_role::buffer : tensor_role::parameter, init);
    }
    parameter_ref buffer(std::string_view name, const core::shape& shape, initializer init) const {
        return layout_->add(qualify(name), shape, tensor_role::buffer, init);
    }

    const std::string& prefix() const noexcept { return prefix_; }

private:
    registry(parameter_layout& layout, std::string prefix, bool frozen)
        : layout_(&layout), prefix_(std::move(prefix)), frozen_(frozen) {}

    std::string qualify(std::string_view name) const {
        return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
    }

    parameter_layout* layout_;
    std::string prefix_;
    bool frozen_ = false;
};

// A layout bound to flat storage: the parameters (or their gradients) and the buffers.
template <class T, core::device_tag Device = core::cpu>
class parameter_views {
public:
    parameter_views(const parameter_layout& layout, core::view<T, Device> parameters, core::view<T, Device> buffers)
        : layout_(&layout), parameters_(parameters), buffers_(buffers) {
        IMBDEF_REQUIRE(parameters.numel() == layout.size(tensor_role::parameter), "parameter_views",
                       std::to_string(layout.size(tensor_role::parameter)) + " flat parameter elements",
                       std::to_string(parameters.numel()));
        IMBDEF_REQUIRE(buffers.numel() == layout.size(tensor_role::buffer), "parameter_views",
                       std::to_string(layout.size(tensor_role::buffer)) + " flat buffer elements",
                       std::to_string(buffers.numel()));
    }

    // Views over no storage, for a pass whose parameter gradients are not wanted (mode none):
    // every tensor comes back empty.
    static parameter_views unbound(const parameter_layout& layout) noexcept { return parameter_views(layout); }

    core::view<T, Device> operator[](parameter_ref r) const {
        if (unbound_) return {};
        const parameter_entry& e = (*layout_)[r];
        T* base = (e.role == tensor_role::parameter ? parameters_ : buffers_).data();
        return core::view<T, Device>(base + e.offset, e.shape);
    }

    core::view<T, Device> operator[](std::string_view name) const {
        const auto r = layout_->find(name);
        IMBDEF_REQUIRE(r.has_value(), "parameter_views", "a declared tensor name", "'" + std::string(name) + "'");
        return (*this)[*r];
    }

    core::view<T, Device> flat(tensor_role role) const noexcept {
        return role == tensor_role::parameter ? parameters_ : buffers_;
    }
    const parameter_layout& layout() const noexcept { return *layout_; }

    operator parameter_views<const T, Device>() const noexcept
        requires(!std::is_const_v<T>)
    {
        if (unbound_) return parameter_views<const T, Device>::unbound(*layout_);
        return parameter_views<const T, Device>(*layout_, parameters_, buffers_);
    }

private:
    explicit parameter_views(const parameter_layout& layout) noexcept : layout_(&layout), unbound_(true) {}
    template <class, core::device_tag>
    friend class parameter_views;

    const parameter_layout* layout_;
    core::view<T, Device> parameters_;
    core::view<T, Device> buffers_;
    bool unbound_ = false;
};

// Owns the flat storage of one network's parameters and buffers on the CPU.
template <class T>
class parameter_store {
public:
    explicit parameter_store(const parameter_layout& layout)
        : layout_(&layout),
          parameters_(core::shape{layout.size(tensor_role::parameter)}),
          buffers_(core::shape{layout.size(tensor_role::buffer)}) {}

    // Fills every tensor from its initialiser; tensor k draws from the Philox stream
    // (seed, name_hash(name)), so the result depends only on the seed and the tensor's own name.
    void initialize(std::uint64_t seed) {
        for (const auto& e : layout_->entries()) {
            const core::view<T> v = views()[parameter_ref{e.role, index_of(e)}];
            const core::philox_stream rng{.seed = seed, .stream = name_hash(e.name)};
            switch (e.init.k) {
                case initializer::kind::constant:
                    for (T& x : v) x = static_cast<T>(e.init.a);
                    break;
                case initializer::kind::normal:
                    core::fill_normal(v, rng, 0, static_cast<T>(e.init.a), static_cast<T>(e.init.b));
                    break;
                case initializer::kind::uniform:
                    core::fill_uniform(v, rng, 0, static_cast<T>(e.init.a), static_cast<T>(e.init.b));
                    break;
                case initializer::kind::custom: {
                    core::tensor<double> values(e.shape);
                    e.init.fill(values.view(), rng);
                    for (index_t i = 0; i < v.numel(); ++i) v[i] = static_cast<T>(values[i]);
                    break;
                }
            }
        }
    }

    parameter_views<T> views() noexcept { return {*layout_, parameters_.view(), buffers_.view()}; }
    parameter_views<const T> views() const noexcept { return {*layout_, parameters_.cview(), buffers_.cview()}; }

    core::tensor<T>& parameters() noexcept { return parameters_; }
    core::tensor<T>& buffers() noexcept { return buffers_; }
    const core::tensor<T>& parameters() const noexcept { return parameters_; }
    const core::tensor<T>& buffers() const noexcept { return buffers_; }
    const parameter_layout& layout() const noexcept { return *layout_; }

private:
    std::uint32_t index_of(const parameter_entry& e) const noexcept {
        return static_cast<std::uint32_t>(&e - layout_->entries().data());
    }

    const parameter_layout* layout_;
    core::tensor<T> parameters_;
    core::tensor<T> buffers_;
};

// Copies every parameter and buffer of `from` into `to`: two bindings of layouts of one shape
// (a network and its EMA copy, a trainer's generator and a sampler's).
template <class T>
void copy_values(parameter_views<const T> from, parameter_views<T> to) {
    for (const tensor_role role : {tensor_role::parameter, tensor_role::buffer}) {
        const core::view<const T> a = from.flat(role);
        const core::view<T> b = to.flat(role);
        IMBDEF_REQUIRE(a.numel() == b.numel(), "nn::copy_values",
                       std::to_string(a.numel()) + " flat " + std::string(to_string(role)) + " elements",
                       std::to_string(b.numel()));
        std::copy(a.data(), a.data() + a.numel(), b.data());
    }
}

}  // namespace imbdef::nn
