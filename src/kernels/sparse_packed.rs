//! Sparse rows × a dense vector without gathers: a CSR matrix repacked into groups of
//! [`GROUP`] rows × blocks of [`BLOCK`] columns, so that one vector lane holds one row and the
//! activations of a block sit in two registers.
//!
//! For each (group, block) the entries of the group's 16 rows inside the block's 32 columns
//! are laid out in *steps*: step `t` holds the `t`-th entry of every row (lane) — its value
//! (f32) and its column within the block (one byte) — or a zero value where the row has fewer
//! entries. A step is one table lookup of the two `x` registers by the 16 column bytes
//! (`vpermt2ps`), one load of 16 values and one fused multiply-add into the group's 16 row
//! sums: 16 non-zeros without a gather. This is sliced ELLPACK with a chunk of 16 rows
//! (SELL-C-σ, Kreutzer et al. 2014, "A unified sparse matrix data format for efficient general
//! sparse matrix-vector multiplication on modern processors with wide SIMD units") with the
//! columns blocked so that the lookups stay in registers.
//!
//! Padding costs: a (group, block) gets as many steps as its *second*-busiest row has entries
//! there (a step must serve at least two rows); entries beyond that — the busiest row's excess
//! — go to a short per-group overflow list (lane, column, value) added with scalar loads. At
//! 90% sparsity on 1024×1024 that is ~1.7 value slots per non-zero and ~2% overflow.
//!
//! Only AVX-512 has the 32-entry two-register lookup; other paths keep plain CSR
//! ([`PackedSparse::matvec_on`] runs the layout's scalar reference there, for the tests).
//! Padded slots multiply a zero by `x` at the block's first column, so an infinite input gives
//! NaN where the CSR kernel would skip the zero — as the dense layer does.

use super::dispatch::Isa;
use super::par::for_rows;
use super::sparse::check_csr;
use crate::error::Result;

/// Rows per group: one per AVX-512 lane (and [`BLOCK`] = 2 × `GROUP`).
pub const GROUP: usize = 16;
/// Columns per block: the entries one two-register lookup reaches.
pub const BLOCK: usize = 32;
/// Rows per parallel task (a multiple of [`GROUP`]).
const ROWS_PER_TASK: usize = 4 * GROUP;

/// A sparse matrix in 16-row × 32-column packed steps plus an overflow list (see the module
/// docs). Built from a validated CSR structure; immutable afterwards, so the per-group offsets
/// always match the steps.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedSparse {
    rows: usize,
    cols: usize,
    /// The block (of [`BLOCK`] columns) each step reads; a group's steps run block by block
    /// and are padded with empty steps to a multiple of 4.
    step_block: Vec<u16>,
    /// Per group, its first step and first overflow entry (cumulative over groups);
    /// `groups + 1` entries.
    starts: Vec<[usize; 2]>,
    /// The 16 values of each step (zeros in padded slots).
    values: Vec<Lanes>,
    /// Column bytes (0..32 within the step's block) of each quad of steps: step `t` of lane `l`
    /// at byte `4·l + t % 4` of quad `t / 4` (a quad is one 512-bit load and each of its steps
    /// one shift away).
    index: Vec<Quad>,
    /// The overflow entries, ordered by group: lane within the group, column, value.
    over_lane: Vec<u8>,
    over_col: Vec<u16>,
    over_val: Vec<f32>,
}

/// One group's share of the packed arrays.
pub(crate) struct Group<'a> {
    /// The block of each step (a multiple of 4 steps).
    pub(crate) step_block: &'a [u16],
    /// The values of each step.
    pub(crate) values: &'a [Lanes],
    /// The column bytes of each quad of steps.
    pub(crate) index: &'a [Quad],
    /// The group's overflow entries: lane, column, value.
    pub(crate) over_lane: &'a [u8],
    pub(crate) over_col: &'a [u16],
    pub(crate) over_val: &'a [f32],
}

/// One 64-byte-aligned vector of 16 f32 (aligned so that no 512-bit load splits a cache line:
/// with `Vec<f32>`'s 16-byte alignment every load of the kernel did, at twice the cost).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct Lanes(pub(crate) [f32; GROUP]);

/// 64 column bytes (four steps of 16 lanes), 64-byte aligned.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct Quad(pub(crate) [u8; 64]);

/// A step is kept for a (group, block) while at least this many of the group's rows still have
/// an entry there; the rest go to the overflow list.
const MIN_ROWS_PER_STEP: usize = 2;

impl PackedSparse {
    /// Packs a `rows × cols` CSR matrix (`row_ptr`: rows + 1 entries; `col_idx`, `values`: nnz
    /// each). Errors on an invalid structure (as [`super::sparse::csr_dots_on`]).
    pub fn from_csr(
        rows: usize,
        cols: usize,
        row_ptr: &[u32],
        col_idx: &[u16],
        values: &[f32],
    ) -> Result<Self> {
        check_csr(row_ptr, col_idx, values.len(), cols, rows)?;
        // Blocks up to the last one holding an entry (column indices are u16, so at most
        // 2048): the blocks past it have no steps and no overflow, and sizing the buckets by
        // `cols` would let a huge `cols` with few entries allocate without bound.
        let blocks = col_idx
            .iter()
            .max()
            .map_or(0, |&c| usize::from(c) / BLOCK + 1);
        let mut p = PackedSparse {
            rows,
            cols,
            step_block: Vec::new(),
            starts: vec![[0, 0]],
            values: Vec::new(),
            index: Vec::new(),
            over_lane: Vec::new(),
            over_col: Vec::new(),
            over_val: Vec::new(),
        };
        // The entries of one group, bucketed by (block, lane): (column in block, value).
        let mut bucket: Vec<Vec<(u8, f32)>> = vec![Vec::new(); blocks * GROUP];
        for g in 0..rows.div_ceil(GROUP) {
            bucket.iter_mut().for_each(Vec::clear);
            let lanes = (rows - g * GROUP).min(GROUP);
            for l in 0..lanes {
                let r = g * GROUP + l;
                let (a, b) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
                for (&c, &v) in col_idx[a..b].iter().zip(&values[a..b]) {
                    let c = usize::from(c);
                    bucket[(c / BLOCK) * GROUP + l].push(((c % BLOCK) as u8, v));
                }
            }
            let mut spill: Vec<(u8, u16, f32)> = Vec::new();
            let first = p.step_block.len();
            for (block, lanes_in) in bucket.chunks(GROUP).enumerate() {
                let mut counts: Vec<usize> = lanes_in.iter().map(Vec::len).collect();
                counts.sort_unstable();
                let s = counts[GROUP - MIN_ROWS_PER_STEP];
                for t in 0..s {
                    let entries = lanes_in
                        .iter()
                        .map(|e| e.get(t).copied().unwrap_or((0, 0.0)));
                    p.push_step(block as u16, first, entries);
                }
                // The rest as absolute columns (below `cols`, so they fit u16 as in the CSR).
                let c0 = block * BLOCK;
                for (l, e) in lanes_in.iter().enumerate() {
                    spill.extend(
                        e[s.min(e.len())..]
                            .iter()
                            .map(|&(c, v)| (l as u8, (c0 + usize::from(c)) as u16, v)),
                    );
                }
            }
            while !(p.step_block.len() - first).is_multiple_of(4) {
                p.push_step(0, first, [(0, 0.0); GROUP].into_iter());
            }
            for (l, c, v) in spill {
                p.over_lane.push(l);
                p.over_col.push(c);
                p.over_val.push(v);
            }
            p.starts.push([p.step_block.len(), p.over_val.len()]);
        }
        Ok(p)
    }

    /// Appends one step of `block` (16 lanes of (column in block, value)) to the group whose
    /// steps start at `first`.
    fn push_step(&mut self, block: u16, first: usize, lanes: impl Iterator<Item = (u8, f32)>) {
        let t = self.step_block.len() - first;
        if t.is_multiple_of(4) {
            self.index.push(Quad([0; 64]));
        }
        let mut values = Lanes([0.0; GROUP]);
        if let Some(quad) = self.index.last_mut() {
            for (l, (c, v)) in lanes.enumerate().take(GROUP) {
                values.0[l] = v;
                quad.0[4 * l + t % 4] = c;
            }
        }
        self.values.push(values);
        self.step_block.push(block);
    }
}

impl PackedSparse {
    /// Rows of the matrix.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the matrix.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Value slots of the steps (16 per step, padding included).
    pub fn slots(&self) -> usize {
        GROUP * self.values.len()
    }

    /// Entries in the overflow list.
    pub fn overflow(&self) -> usize {
        self.over_val.len()
    }

    /// Bytes held: step counts, group offsets, values, column bytes and the overflow list.
    pub fn bytes(&self) -> usize {
        2 * self.step_block.len()
            + std::mem::size_of_val(self.starts.as_slice())
            + std::mem::size_of_val(self.values.as_slice())
            + std::mem::size_of_val(self.index.as_slice())
            + 7 * self.over_val.len()
    }

    /// Group `g`'s share of the packed arrays (bounds-checked slicing).
    pub(crate) fn group(&self, g: usize) -> Group<'_> {
        let ([s0, o0], [s1, o1]) = (self.starts[g], self.starts[g + 1]);
        Group {
            step_block: &self.step_block[s0..s1],
            values: &self.values[s0..s1],
            index: &self.index[s0 / 4..s1 / 4],
            over_lane: &self.over_lane[o0..o1],
            over_col: &self.over_col[o0..o1],
            over_val: &self.over_val[o0..o1],
        }
    }

    /// `out[r] = Σ W[r, c]·x[c]` on path `isa`: the packed kernel on AVX-512, the layout's
    /// scalar reference on every other path. Rows are split over threads in blocks of 64.
    /// Errors when `isa` is unavailable or the lengths do not match.
    pub fn matvec_on(&self, isa: Isa, x: &[f32], out: &mut [f32]) -> Result<()> {
        let isa = isa.check()?;
        super::check_len("packed sparse x", self.cols, x.len())?;
        super::check_len("packed sparse out", self.rows, out.len())?;
        self.matvec(isa, x, out);
        Ok(())
    }

    /// [`PackedSparse::matvec_on`] after its checks.
    pub(crate) fn matvec(&self, isa: Isa, x: &[f32], out: &mut [f32]) {
        // The kernel reads whole, aligned blocks of `x`: copy it, zero-padded.
        let mut xs = vec![Lanes([0.0; GROUP]); 2 * x.len().div_ceil(BLOCK)];
        for (d, s) in xs.iter_mut().zip(x.chunks(GROUP)) {
            d.0[..s.len()].copy_from_slice(s);
        }
        let xs = xs.as_slice();
        // A slot costs about one dense multiply-add (measured single-threaded: 0.086 ns per
        // slot against ~0.1 ns per multiply-add, warm): a 1024×1024 layer at 90% (180k slots)
        // stays on one thread, where waking a second costs more than it saves.
        let work = self.slots();
        for_rows(out, 1, ROWS_PER_TASK, work, |r0, o| {
            match isa.float_family() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `isa` was checked available and is AVX-512 or better; `xs` is `x` padded
                // to whole blocks and `o` is rows `r0..` of the matrix.
                Isa::Avx512 => unsafe { super::x86::sparse_packed::rows(self, xs, r0, o) },
                _ => rows_scalar(self, xs, r0, o),
            }
        });
    }
}

/// Whether `isa` runs the packed layout with its vector kernel (AVX-512); elsewhere the CSR
/// kernel is the faster batch-1 product and the packed copy is not worth its bytes.
pub fn has_packed_kernel(isa: Isa) -> bool {
    cfg!(target_arch = "x86_64") && isa.float_family() == Isa::Avx512
}

/// `x[c]` from the padded blocks (0 past them).
#[inline(always)]
fn x_at(xs: &[Lanes], c: usize) -> f32 {
    xs.get(c / GROUP).map_or(0.0, |v| v.0[c % GROUP])
}

/// Adds a group's overflow entries to its 16 row sums (scalar loads; shared by the vector
/// kernel and the scalar reference).
#[inline(always)]
pub(crate) fn add_overflow(grp: &Group<'_>, xs: &[Lanes], acc: &mut [f32; GROUP]) {
    for ((&l, &c), &v) in grp.over_lane.iter().zip(grp.over_col).zip(grp.over_val) {
        // Lanes are below GROUP by construction; reduced anyway so no layout can index out.
        acc[usize::from(l) % GROUP] += v * x_at(xs, usize::from(c));
    }
}

/// Scalar reference of the packed layout: `out[l] = Σ_steps value·x[32·block + column byte]`
/// plus the overflow, for the groups of rows `r0..r0 + out.len()` (`r0` a multiple of
/// [`GROUP`]), exactly as the vector kernel reads the layout.
pub(crate) fn rows_scalar(p: &PackedSparse, xs: &[Lanes], r0: usize, out: &mut [f32]) {
    for (gi, o) in out.chunks_mut(GROUP).enumerate() {
        let grp = p.group(r0 / GROUP + gi);
        let mut acc = [0.0f32; GROUP];
        for (t, &b) in grp.step_block.iter().enumerate() {
            for (l, a) in acc.iter_mut().enumerate() {
                let c = usize::from(b) * BLOCK + usize::from(grp.index[t / 4].0[4 * l + t % 4]);
                *a += grp.values[t].0[l] * x_at(xs, c);
            }
        }
        add_overflow(&grp, xs, &mut acc);
        o.copy_from_slice(&acc[..o.len()]);
    }
}
