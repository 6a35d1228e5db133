//! The [`Distiller`] trait, the training budget every distiller shares ([`Schedule`]), where the
//! teacher's outputs come from ([`TeacherOutputs`]) and the [`DistillReport`].

use ndarray::{concatenate, Array2, ArrayView2, Axis};

use crate::data::Dataset;
use crate::error::{check_finite, Error, Result};
use crate::nn::{argmax_rows, Forward, Mlp};
use crate::train::{History, Objective, Optimizer, Trainer};

/// Trains a student [`Mlp`] to imitate a teacher of type `T`.
///
/// `T` is any model behind the crate's [`Forward`] interface — an f32 [`Mlp`], a pruned,
/// sparse or quantized model, `dyn Forward` — for the logit-level distillers
/// ([`SoftTargets`](super::SoftTargets), [`HardLabels`](super::HardLabels),
/// [`LogitMatching`](super::LogitMatching), [`LabelFree`](super::LabelFree)); feature
/// distillation ([`FeatureDistiller`](super::FeatureDistiller)) needs to look inside the
/// teacher and is implemented for `Mlp<L>` teachers only.
///
/// Every implementation checks its settings and the shapes before training (teacher and student
/// output widths equal, input widths equal to `inputs`' width) and returns an [`Error`] without
/// touching the student; training runs on a copy that replaces the student only on success.
pub trait Distiller<T: Forward + ?Sized = dyn Forward> {
    /// Trains `student` on the rows of `inputs` to imitate `teacher`. `labels`, one per row, are
    /// used by distillers that mix in a label term (soft targets with α > 0) and ignored by the
    /// others; pass `None` for unlabelled inputs.
    fn distill(
        &self,
        teacher: &T,
        student: &mut Mlp,
        inputs: ArrayView2<f32>,
        labels: Option<&[usize]>,
    ) -> Result<History>;

    /// [`Distiller::distill`] on a labelled dataset's features and labels.
    fn distill_dataset(&self, teacher: &T, student: &mut Mlp, train: &Dataset) -> Result<History> {
        self.distill(teacher, student, train.features(), Some(train.labels()))
    }
}

/// The training budget of a distillation run: optimizer, epochs, batch size and the seed of the
/// batch shuffling. The same value gives the student trained on labels alone
/// ([`Schedule::trainer`]) exactly the same budget, which is how the distilled and the
/// label-trained students are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The optimizer (its learning rate, weight decay, …).
    pub optimizer: Optimizer,
    /// Number of passes over the inputs, ≥ 1.
    pub epochs: usize,
    /// Mini-batch size, ≥ 1.
    pub batch_size: usize,
    /// Seed of the batch shuffling.
    pub seed: u64,
}

impl Schedule {
    /// A schedule with the given optimizer, 10 epochs, batch size 32 and seed 0 (the
    /// [`Trainer`] defaults).
    pub fn new(optimizer: impl Into<Optimizer>) -> Self {
        Schedule {
            optimizer: optimizer.into(),
            epochs: 10,
            batch_size: 32,
            seed: 0,
        }
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the mini-batch size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the shuffling seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The engine's [`Trainer`] with this budget (cross-entropy loss, no L1, no early stopping).
    pub fn trainer(&self) -> Trainer {
        Trainer::new(self.optimizer)
            .epochs(self.epochs)
            .batch_size(self.batch_size)
            .seed(self.seed)
    }

    /// Validates the settings (the same checks as [`Trainer::check`]).
    pub fn check(&self) -> Result<()> {
        self.trainer().check()
    }
}

/// Where the teacher's outputs for a batch come from.
///
/// Both give the same training run (the teacher is deterministic); they trade memory for time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TeacherOutputs {
    /// The teacher runs once over all inputs before training (in chunks of the batch size) and
    /// its outputs are kept: `N × C` floats for `N` inputs and `C` outputs (plus `N × D` for a
    /// feature distiller's teacher layer of width `D`). The teacher runs once instead of once
    /// per epoch.
    #[default]
    Cached,
    /// The teacher runs on each batch as it is drawn: memory for teacher outputs is bounded by
    /// the batch size (`B × C`), whatever the number of inputs; the teacher runs once per epoch
    /// over the data.
    PerBatch,
}

/// Teacher outputs for batches of rows of `x`, computed per batch or cached once.
pub(crate) struct TeacherSource<'a, F> {
    compute: F,
    x: ArrayView2<'a, f32>,
    cache: Option<Array2<f32>>,
    what: &'static str,
}

impl<'a, F> TeacherSource<'a, F>
where
    F: Fn(ArrayView2<f32>) -> Result<Array2<f32>>,
{
    /// A source over the rows of `x`; with [`TeacherOutputs::Cached`], runs `compute` over all
    /// rows now, `chunk` rows at a time.
    pub(crate) fn new(
        compute: F,
        x: ArrayView2<'a, f32>,
        mode: TeacherOutputs,
        chunk: usize,
        what: &'static str,
    ) -> Result<Self> {
        let mut source = TeacherSource {
            compute,
            x,
            cache: None,
            what,
        };
        if mode == TeacherOutputs::Cached {
            let parts = (0..x.nrows())
                .step_by(chunk.max(1))
                .map(|start| {
                    let end = (start + chunk.max(1)).min(x.nrows());
                    source.run(x.slice(ndarray::s![start..end, ..]))
                })
                .collect::<Result<Vec<_>>>()?;
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            source.cache = Some(
                concatenate(Axis(0), &views)
                    .map_err(|e| Error::shape("teacher output cache", "equal widths", e))?,
            );
        }
        Ok(source)
    }

    fn run(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let out = (self.compute)(x)?;
        if out.nrows() != x.nrows() {
            return Err(Error::shape(self.what, x.nrows(), out.nrows()));
        }
        check_finite(out.iter(), || self.what.to_string())?;
        Ok(out)
    }

    /// The teacher outputs for rows `idx` of `x`.
    pub(crate) fn rows(&self, idx: &[usize]) -> Result<Array2<f32>> {
        match &self.cache {
            Some(c) => Ok(c.select(Axis(0), idx)),
            None => self.run(self.x.select(Axis(0), idx).view()),
        }
    }
}

/// Checks what every distiller needs before training: non-empty inputs of the student's and
/// the teacher's input width, equal output widths, one label per row if labels are given.
pub(crate) fn check_setup<T: Forward + ?Sized>(
    teacher: &T,
    student: &Mlp,
    x: ArrayView2<f32>,
    labels: Option<&[usize]>,
) -> Result<()> {
    if teacher.out_features() != student.out_features() {
        return Err(Error::shape(
            "distillation: student outputs must match teacher outputs",
            teacher.out_features(),
            student.out_features(),
        ));
    }
    if x.nrows() == 0 {
        return Err(Error::Empty("distillation inputs".into()));
    }
    if x.ncols() != student.in_features() {
        return Err(Error::shape(
            "distillation inputs vs student input width",
            student.in_features(),
            x.ncols(),
        ));
    }
    if x.ncols() != teacher.in_features() {
        return Err(Error::shape(
            "distillation inputs vs teacher input width",
            teacher.in_features(),
            x.ncols(),
        ));
    }
    if let Some(l) = labels {
        if l.len() != x.nrows() {
            return Err(Error::shape("distillation labels", x.nrows(), l.len()));
        }
    }
    Ok(())
}

/// The entry check of every distiller: one pass over the teacher's and the student's
/// parameters, naming the first non-finite tensor (`"teacher layers.1 weight"`).
pub(crate) fn check_models<T: Forward + ?Sized>(teacher: &T, student: &Mlp) -> Result<()> {
    teacher.check_finite_params().map_err(|e| match e {
        Error::NonFinite(what) => Error::NonFinite(format!("teacher {what}")),
        e => e,
    })?;
    crate::train::check_model_finite(student, "student ")
}

/// The [`Objective`] of the logit-level distillers: `loss(student_out, teacher_out, labels)` on
/// each batch, with the teacher outputs from a [`TeacherSource`].
struct TeacherObjective<'a, F, L> {
    source: TeacherSource<'a, F>,
    labels: Option<&'a [usize]>,
    loss: L,
}

impl<F, L> Objective for TeacherObjective<'_, F, L>
where
    F: Fn(ArrayView2<f32>) -> Result<Array2<f32>>,
    L: FnMut(ArrayView2<f32>, ArrayView2<f32>, Option<&[usize]>) -> Result<(f32, Array2<f32>)>,
{
    fn loss_grad(&mut self, outputs: ArrayView2<f32>, idx: &[usize]) -> Result<(f32, Array2<f32>)> {
        let teacher = self.source.rows(idx)?;
        let labels: Option<Vec<usize>> = self.labels.map(|l| idx.iter().map(|&i| l[i]).collect());
        (self.loss)(outputs, teacher.view(), labels.as_deref())
    }
}

/// Trains `student` with the engine's [`Trainer`] on `loss` against the teacher's logits:
/// the shared body of the logit-level distillers. Settings are checked by the caller.
pub(crate) fn train_on_logits<T, L>(
    schedule: &Schedule,
    mode: TeacherOutputs,
    teacher: &T,
    student: &mut Mlp,
    x: ArrayView2<f32>,
    labels: Option<&[usize]>,
    loss: L,
) -> Result<History>
where
    T: Forward + ?Sized,
    L: FnMut(ArrayView2<f32>, ArrayView2<f32>, Option<&[usize]>) -> Result<(f32, Array2<f32>)>,
{
    schedule.check()?;
    check_setup(teacher, student, x, labels)?;
    check_models(teacher, student)?;
    let source = TeacherSource::new(
        |xb: ArrayView2<f32>| teacher.forward(xb),
        x,
        mode,
        schedule.batch_size,
        "teacher outputs",
    )?;
    let mut objective = TeacherObjective {
        source,
        labels,
        loss,
    };
    schedule
        .trainer()
        .fit_objective(student, x, &mut objective, None, |_, _| Ok(()))
}

/// Teacher and student side by side on a labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillReport {
    /// The teacher's accuracy.
    pub teacher_accuracy: f32,
    /// The student's accuracy.
    pub student_accuracy: f32,
    /// Fraction of samples where student and teacher predict the same class (argmax, or the
    /// sign of a single binary logit).
    pub agreement: f32,
    /// The teacher's parameter count ([`Forward::param_count`]).
    pub teacher_params: usize,
    /// The student's parameter count.
    pub student_params: usize,
}

impl DistillReport {
    /// Measures `teacher` and `student` on `data`.
    pub fn measure<T, S>(teacher: &T, student: &S, data: &Dataset) -> Result<Self>
    where
        T: Forward + ?Sized,
        S: Forward + ?Sized,
    {
        if data.is_empty() {
            return Err(Error::Empty("report dataset".into()));
        }
        let t = teacher.predict(data.features())?;
        let s = student.predict(data.features())?;
        let n = data.len() as f32;
        let hits = |p: &[usize]| p.iter().zip(data.labels()).filter(|(a, b)| a == b).count();
        Ok(DistillReport {
            teacher_accuracy: hits(&t) as f32 / n,
            student_accuracy: hits(&s) as f32 / n,
            agreement: t.iter().zip(&s).filter(|(a, b)| a == b).count() as f32 / n,
            teacher_params: teacher.param_count(),
            student_params: student.param_count(),
        })
    }

    /// How many times fewer parameters the student has than the teacher.
    pub fn compression(&self) -> f32 {
        self.teacher_params as f32 / self.student_params.max(1) as f32
    }
}

/// Fraction of the rows of `x` on which `a` and `b` predict the same class.
pub fn agreement<A, B>(a: &A, b: &B, x: ArrayView2<f32>) -> Result<f32>
where
    A: Forward + ?Sized,
    B: Forward + ?Sized,
{
    if x.nrows() == 0 {
        return Err(Error::Empty("agreement inputs".into()));
    }
    let pa = argmax_rows(a.forward(x)?.view());
    let pb = argmax_rows(b.forward(x)?.view());
    Ok(pa.iter().zip(&pb).filter(|(p, q)| p == q).count() as f32 / x.nrows() as f32)
}

/// Checks a temperature: finite and > 0.
pub(crate) fn check_temperature(t: f32) -> Result<()> {
    if t > 0.0 && t.is_finite() {
        Ok(())
    } else {
        Err(Error::param(
            "temperature",
            format!("must be finite and > 0, got {t}"),
        ))
    }
}

/// Checks a mixing weight: in [0, 1].
pub(crate) fn check_alpha(alpha: f32) -> Result<()> {
    if (0.0..=1.0).contains(&alpha) {
        Ok(())
    } else {
        Err(Error::param(
            "alpha",
            format!("must be in [0, 1], got {alpha}"),
        ))
    }
}
