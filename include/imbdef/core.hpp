#pragma once
// The core layer: tensors and views, shapes, devices, memory, arena, Philox random numbers, the
// thread pool and errors. The Eigen and xtensor bridges are separate (core/eigen.hpp,
// core/xtensor.hpp) so that code which needs neither does not pay for them.

#include "core/arena.hpp"
#include "core/content_hash.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/fp.hpp"
#include "core/grad_mode.hpp"
#include "core/macros.hpp"
#include "core/memory.hpp"
#include "core/parallel.hpp"
#include "core/philox.hpp"
#include "core/random.hpp"
#include "core/scratch.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
