#pragma once
// ops::backend<Op, Device>: the compile-time switch between the implementations of one op.
//
// Every op is a tag type `<name>_op` (ops/def/<name>.hpp) and a front end (ops/<name>.hpp) that
// validates its arguments and calls backend<<name>_op, Device>. Each device supplies its own
// specialisation: core::cpu in ops/cpu/<name>.hpp (always included by the front end), core::cuda
// in cuda/<name>.cuh (reachable only through <imbdef/cuda.hpp>). A backend assumes arguments the
// front end has already checked. Backends name their entry points forward and backward (the
// tangent rules of R1, where an op has them, follow the same scheme).

#include "../core/device.hpp"

namespace imbdef::ops {

// Primary template: reached only when the device's backend for Op was not included.
template <class Op, core::device_tag Device>
struct backend {
    static_assert(sizeof(Op) == 0,
                  "imbdef: this op has no implementation for this device in this translation unit; "
                  "for core::cuda views include <imbdef/cuda.hpp> in a translation unit compiled by "
                  "nvcc (a .cu file)");

    // Stand-ins for the members every backend defines, so that the message above is the only error.
    template <class... Args>
    static void forward(Args&&...) {}
    template <class... Args>
    static void backward(Args&&...) {}
};

}  // namespace imbdef::ops
