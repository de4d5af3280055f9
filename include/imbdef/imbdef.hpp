#pragma once
// Everything imbdef offers on the CPU. CUDA code additionally includes <imbdef/cuda.hpp>.

#include "version.hpp"
#include "core.hpp"
#include "core/eigen.hpp"
#include "core/xtensor.hpp"
