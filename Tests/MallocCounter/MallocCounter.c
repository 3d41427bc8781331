// Counts heap allocations while enabled, for the test that a training step allocates nothing.
// The test executable defines malloc and friends, so every library in the process calls these;
// each forwards to glibc's own implementation.
//
// Under a sanitizer (swift test --sanitize=thread|address) the sanitizer runtime owns malloc: a
// second interposer would crash the test binary before any test runs. There the counter compiles
// to stubs and malloc_counter_available() returns 0, so the allocation tests say they cannot count.
#include "MallocCounter.h"
#include <stdatomic.h>
#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define MALLOC_COUNTER_DISABLED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MALLOC_COUNTER_DISABLED 1
#endif

#ifdef MALLOC_COUNTER_DISABLED

void malloc_counter_start(void) {}
long malloc_counter_stop(void) { return 0; }
int malloc_counter_available(void) { return 0; }

#else

int malloc_counter_available(void) { return 1; }

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

static atomic_long allocations;
static atomic_int counting;

/// Called for each counted allocation; a debugger breakpoint here shows who allocates.
__attribute__((noinline)) void malloc_counter_hit(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

static void count(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        malloc_counter_hit();
    }
}

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count();
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    count();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    count();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) {
        return 12; /* ENOMEM */
    }
    *result = pointer;
    return 0;
}

void free(void *pointer) {
    __libc_free(pointer);
}

void malloc_counter_start(void) {
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
}

long malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}

#endif
