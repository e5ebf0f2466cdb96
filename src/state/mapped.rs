//! Large arrays of a state's files, mapped from the page cache rather than copied.
//!
//! An update reads a state of a million rows: a gigabyte of features and 400 MB of k-NN rows.
//! Copying them into fresh memory costs more than the update's own work (on the two-core VM
//! the figures were measured on, first-touching a gigabyte of new memory took seconds, while
//! mapping the same bytes from the page cache took a fraction of that). [`Array`] maps a
//! file's array read-only (`mmap`, private, populated) where it can, and reads it into memory
//! where it cannot (other platforms, big-endian machines). The files of a state are never
//! rewritten once their manifest is in place (updates write new files), so a mapping never
//! sees its bytes change; a file removed while mapped stays readable until unmapped.

use std::fs::File;

use super::codec::{Reader, Value};
use crate::error::{Error, Result};

/// A read-only array of `T`, mapped from a file or held in memory.
#[derive(Debug)]
pub(super) struct Array<T: Value> {
    inner: Inner<T>,
}

#[derive(Debug)]
enum Inner<T> {
    #[cfg_attr(not(all(unix, target_endian = "little")), allow(dead_code))]
    Mapped {
        map: Mapping,
        offset: usize,
        len: usize,
        marker: std::marker::PhantomData<T>,
    },
    Owned(Vec<T>),
}

impl<T: Value> Array<T> {
    /// An array held in memory.
    pub fn owned(values: Vec<T>) -> Self {
        Array { inner: Inner::Owned(values) }
    }

    /// The `len` values of `reader`'s file at its current position, mapped when possible; the
    /// reader moves past them.
    pub fn read(reader: &mut Reader, len: usize) -> Result<Self> {
        #[cfg(all(unix, target_endian = "little"))]
        {
            let offset = reader.skip::<T>(len)?;
            if len == 0 {
                return Ok(Array::owned(Vec::new()));
            }
            let bytes = offset as usize + len * T::BYTES;
            let map = Mapping::new(reader.file(), bytes).map_err(|e| Error::io(reader.path(), e))?;
            Ok(Array { inner: Inner::Mapped { map, offset: offset as usize, len, marker: std::marker::PhantomData } })
        }
        #[cfg(not(all(unix, target_endian = "little")))]
        {
            let mut values = Vec::new();
            reader.get(len, &mut values)?;
            Ok(Array::owned(values))
        }
    }

    /// The values.
    pub fn as_slice(&self) -> &[T] {
        match &self.inner {
            Inner::Owned(v) => v,
            #[cfg(all(unix, target_endian = "little"))]
            Inner::Mapped { map, offset, len, .. } => map.slice(*offset, *len),
            #[cfg(not(all(unix, target_endian = "little")))]
            Inner::Mapped { .. } => unreachable!("nothing is mapped on this platform"),
        }
    }
}

/// A private read-only mapping of the first `len` bytes of a file.
#[derive(Debug)]
struct Mapping {
    #[cfg_attr(not(all(unix, target_endian = "little")), allow(dead_code))]
    ptr: usize,
    #[cfg_attr(not(all(unix, target_endian = "little")), allow(dead_code))]
    len: usize,
}

#[cfg(all(unix, target_endian = "little"))]
#[allow(unsafe_code)] // mmap(2) and munmap(2), and a slice view of the mapping; see each SAFETY.
impl Mapping {
    fn new(file: &File, len: usize) -> std::io::Result<Self> {
        use std::os::unix::io::AsRawFd;
        // SAFETY: a fresh read-only private mapping of an open file; the kernel picks the
        // address. Nothing else refers to it until this function returns it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr: ptr as usize, len })
    }

    /// `count` values of `T` starting `offset` bytes into the mapping.
    fn slice<T: Value>(&self, offset: usize, count: usize) -> &[T] {
        assert!(offset + count * T::BYTES <= self.len, "a view inside the mapping");
        let start = self.ptr + offset;
        assert_eq!(start % std::mem::align_of::<T>(), 0, "an aligned view");
        // SAFETY: the range lies inside the mapping (checked above), which lives as long as
        // `self`, is readable and never written (read-only, private, of a file no writer
        // changes: see the module docs); `T` is u32, f32 or f64, for which any bytes are a
        // value, and the start is aligned for `T` (checked above).
        unsafe { std::slice::from_raw_parts(start as *const T, count) }
    }
}

#[cfg(all(unix, target_endian = "little"))]
#[allow(unsafe_code)] // munmap(2) of the mapping this value owns.
impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are those mmap returned; no view outlives `self`.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}
