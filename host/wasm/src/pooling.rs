//! The pooling instance allocator's sizing for [`RuntimeConfig::pooling_allocator`].
//!
//! [`RuntimeConfig::pooling_allocator`]: super::RuntimeConfig::pooling_allocator

use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Core instances, memories and tables reserved per component instance: a `wasm32-wasip2`
/// component holds a few core modules (the program, shims), each with at most one memory
/// and a couple of tables.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;

/// Bytes of each memory and table slot that are reset in place when an instance ends,
/// instead of being returned to the kernel: the next instance in the slot then starts
/// without page faults for them.
///
/// Where the kernel offers the `PAGEMAP_SCAN` ioctl (Linux 6.7 and later), only the
/// pages the instance actually touched are reset ([`PoolingAllocationConfig::pagemap_scan`]
/// is `Auto`: elsewhere every kept byte is zeroed), which made pooled instantiation
/// faster. A larger budget did not help further and would keep that much memory resident
/// per slot (BENCHMARKS.md).
const KEEP_RESIDENT: usize = 64 << 10;

/// A pooling strategy for `instances` component instances alive at once.
pub(crate) fn strategy(instances: u32) -> InstanceAllocationStrategy {
    let n = instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    InstanceAllocationStrategy::Pooling(pool)
}
