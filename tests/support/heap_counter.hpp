#pragma once
// Counts calls to the global operator new in the executable that links heap_counter.cpp, so a
// test can prove that a piece of code allocates nothing on the heap.
#include <cstddef>

namespace imbdef_test {
std::size_t heap_allocations() noexcept;
}
