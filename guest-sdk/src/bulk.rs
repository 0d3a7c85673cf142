//! The optional `bulk` export (`wit/bulk.wit`): packed multi-key calls, derived from the
//! provider's own `get-multi` for every adapter and wrapper the SDK exports.

use crate::bindings::byoc::cache::types::{PackedKeys, PackedValues};
use crate::bindings::exports::byoc::cache::bulk::{self, PackedAnswer};
use crate::bindings::exports::byoc::cache::provider;
use crate::{Adapter, Bridge, Error, Result, Wrapper, WrapperBridge};
use byoc_common::packed;

/// `get-multi-packed` through `get_multi`: the keys unpacked, the values packed.
fn derived(
    keys: &PackedKeys,
    get_multi: impl FnOnce(&[&str]) -> Result<Vec<Option<Vec<u8>>>>,
) -> Result<PackedValues> {
    let keys = packed::unpack_keys(&keys.text, &keys.lengths)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let values = get_multi(&keys)?;
    let (data, lengths) = packed::pack_values(values.iter().map(Option::as_ref))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(PackedValues { data, lengths })
}

impl<A: Adapter> bulk::Guest for Bridge<A> {
    fn get_multi_packed(keys: PackedKeys) -> Result<PackedAnswer> {
        derived(&keys, Self::get_multi_borrowed).map(PackedAnswer::Values)
    }
}

impl<W: Wrapper> bulk::Guest for WrapperBridge<W> {
    fn get_multi_packed(keys: PackedKeys) -> Result<PackedAnswer> {
        derived(&keys, |keys| {
            <Self as provider::Guest>::get_multi(keys.iter().map(|&k| k.to_owned()).collect())
        })
        .map(PackedAnswer::Values)
    }
}
