#pragma once
// An allocator that takes whole pages from the kernel (mmap) and gives them back on free (munmap),
// for the weight loader's large buffers.
//
// Why not malloc: glibc raises its mmap threshold to the size of each large block freed (up to
// 32 MB), so after the first 16 MB temporary of a weight load the next ones come from the heap,
// between the long-lived packed weights, and their pages stay resident once freed: 47 MB on
// bge-m3 in float32 and 34 MB in int8, measured (docs/performance.md, "Memory"). Pages straight
// from the kernel leave the resident set the moment the buffer goes. Not for small or frequent
// allocations: each costs a system call and fresh zeroed pages.
#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <vector>

namespace rerankd::cpu {

template <typename T>
struct PageAllocator {
  using value_type = T;

  PageAllocator() = default;
  template <typename U>
  PageAllocator(const PageAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor): rebinding

  T* allocate(size_t n) {
    if (n == 0) return nullptr;
    void* p = ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (p != nullptr) ::munmap(p, n * sizeof(T));
  }

  template <typename U>
  bool operator==(const PageAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using PageVector = std::vector<T, PageAllocator<T>>;

}  // namespace rerankd::cpu
