//! Extension points for host imports beyond WASI and the contract's own, so that a crate
//! such as `byoc-redis` adds one without this crate knowing it:
//!
//! - a [`HostImport`](crate::HostImport) links its functions into a runtime's linker
//!   ([`Runtime::link`]);
//! - an [`ExtensionGrant`] in a provider's [`Grants`] gives each store of the provider
//!   its [`StoreExtension`], the import's per-store state, which the import's functions
//!   reach with [`HostState::extension`](crate::HostState::extension). A store without the grant gets the state's
//!   `Default` (for Redis: every call denied).
//!
//! [`Runtime::link`]: crate::Runtime::link
//! [`Grants`]: crate::Grants

use std::any::Any;
use std::fmt::Debug;

/// Answers an import call holds for the host to collect once the guest call has returned
/// (the `mget-held` of `wit/redis.wit`: values the adapter hands back by reference).
pub type Held = Vec<Option<Vec<u8>>>;

/// The per-store state of a host import.
pub trait StoreExtension: Any + Send {
    /// The answer the import holds for the host, if any; taken once (default: none).
    fn take_held(&mut self) -> Option<Held> {
        None
    }
}

/// A capability an extension grants a provider: the per-store state it starts each
/// store with. [`Grants`](crate::Grants) hold at most one grant of each type.
pub trait ExtensionGrant: Debug + Send + Sync + 'static {
    /// The state a new store of the provider starts with.
    fn store_extension(&self) -> Box<dyn StoreExtension>;

    /// Whether `other` grants the same (so that grants compare equal).
    fn same_grant(&self, other: &dyn ExtensionGrant) -> bool;

    /// `self`, to downcast.
    fn as_any(&self) -> &dyn Any;
}

/// A store's extension states, at most one of each type (few: a linear search).
#[derive(Default)]
pub(crate) struct StoreExtensions(Vec<Box<dyn StoreExtension>>);

impl StoreExtensions {
    pub(crate) fn new(states: Vec<Box<dyn StoreExtension>>) -> StoreExtensions {
        StoreExtensions(states)
    }

    /// The state of type `T`, its default added first if there is none.
    pub(crate) fn get_or_default<T: StoreExtension + Default>(&mut self) -> &mut T {
        let at = match self.0.iter().position(|e| (&**e as &dyn Any).is::<T>()) {
            Some(at) => at,
            None => {
                self.0.push(Box::new(T::default()));
                self.0.len() - 1
            }
        };
        (&mut *self.0[at] as &mut dyn Any)
            .downcast_mut::<T>()
            .expect("the state at `at` is a `T`")
    }

    /// The first answer a state holds, taken.
    pub(crate) fn take_held(&mut self) -> Option<Held> {
        self.0.iter_mut().find_map(|e| e.take_held())
    }
}
