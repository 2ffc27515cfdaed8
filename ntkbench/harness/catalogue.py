"""The claim catalogue as data: the five source documents and the 28 checks, each under its fixed id.

This module is the catalogue's home inside the package (a clone of ntkbench carries no other copy). It holds the
catalogue as written — for every row its id, family, source (document key and the theorem, equation or figure),
the claim, what is measured and what is expected — together with the catalogue's rules on profiles, negative
controls, invalid runs and notation. Which rows are implemented is the registry's business
(:func:`ntkbench.harness.registry.all_claims`): :func:`render_markdown` joins the two into ``docs/claims.md`` (the
command ``ntkbench list --markdown > docs/claims.md``), taking the statement, source, measurement and negative
controls of a registered claim from the registry and marking every other row "planned".

Documents are cited by key ("000" … "004"). Their bibliographic data is what each document states about itself
(title, authors, affiliations, notes such as "under double-blind review"); nothing is filled in from outside. Where
a document does not state its venue, year or arXiv id but another of the five cites it, that citation is recorded
separately in :attr:`Source.cited_as`, naming the citing document.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "CATALOGUE", "FAMILIES", "Family", "INTRO", "NOTATION", "PROFILES", "ROWS", "Row", "RULES", "SOURCES", "Source",
    "family_of", "references_markdown", "render_markdown", "row", "source",
]


@dataclass(frozen=True)
class Source:
    """One source document, as it describes itself.

    ``authors`` is empty when the document names none (``authors_note`` says why); ``venue``, ``year`` and
    ``arxiv`` are only what the document itself states (empty/None otherwise); ``cited_as`` is how another of
    the five documents cites this one, with the citing document's key; ``file`` is the text the catalogue was
    written from (not distributed with ntkbench)."""

    key: str
    title: str
    authors: tuple[str, ...]
    file: str
    authors_note: str = ""
    affiliations: tuple[str, ...] = ()
    venue: str = ""
    year: int | None = None
    arxiv: str = ""
    note: str = ""
    cited_as: str = ""
    used_for: str = ""

    def author_list(self) -> str:
        """"A, B and C" (or the note when the document names no authors)."""
        if not self.authors:
            return self.authors_note
        if len(self.authors) == 1:
            return self.authors[0]
        return ", ".join(self.authors[:-1]) + " and " + self.authors[-1]

    def reference(self) -> str:
        """The full reference in Markdown: authors, title, what the document states about its publication, and
        how another source document cites it."""
        end = "" if self.title[-1] in ".?!" else "."
        parts = [f"{self.author_list()}.", f"*{self.title}*{end}"]
        stated = [s for s in (self.venue, str(self.year) if self.year else "", self.arxiv and f"arXiv:{self.arxiv}")
                  if s]
        if stated:
            parts.append(", ".join(stated) + ".")
        if self.note:
            parts.append(self.note)
        if self.cited_as:
            parts.append(self.cited_as)
        parts.append(f"Source text: `{self.file}` (not distributed with ntkbench).")
        return " ".join(parts)


@dataclass(frozen=True)
class Family:
    """A family of checks: its letter, title, source documents and the id prefixes of its rows."""

    letter: str
    title: str
    sources: tuple[str, ...]
    prefixes: tuple[str, ...]
    note: str = ""

    @property
    def heading(self) -> str:
        seeds = " and ".join(self.sources)
        return f"{self.letter}. {self.title} — {'seeds' if len(self.sources) > 1 else 'seed'} {seeds}"


@dataclass(frozen=True)
class Row:
    """One row of the catalogue: a check under its fixed id, as the catalogue words it."""

    id: str
    family: str  # the letter of its Family
    source: str
    claim: str
    measured: str
    expected: str

    @property
    def documents(self) -> tuple[str, ...]:
        """The keys of the source documents cited in ``source`` ("000 Thm 4; 001 Thm 2" → ("000", "001"))."""
        import re

        return tuple(dict.fromkeys(re.findall(r"\b(00[0-4])\b", self.source)))


# ----- the five source documents --------------------------------------------------------------------------------------
SOURCES: tuple[Source, ...] = (
    Source(
        "000", "Wide neural networks are interpolating kernel methods: impact of initialization on generalization",
        authors=(), authors_note="Anonymous preprint under double-blind review",
        file="000_bb5a2cb9208dee54.txt",
        note='The document names no authors ("Anonymous authors", "Paper under double-blind review") and states no '
             "venue, year or arXiv id.",
        used_for="NTK-parametrized ReLU nets with scale σ (Eq. 1); last-layer training equals the kernel interpolant "
                 "(Thm 1); trained net ≈ f_int + an initialization term (Eq. 13, Lemma 2 / Eq. 14); test loss grows "
                 "like σ^(2L) (Thm 4, Fig. 1); experiment settings in App. E"),
    Source(
        "001", "Which Minimizer Does My Neural Network Converge To?",
        authors=("Manuel Nonnenmacher", "David Reeb", "Ingo Steinwart"),
        affiliations=("Bosch Center for Artificial Intelligence (BCAI), Renningen, Germany",
                      "Institute for Stochastics and Applications, University of Stuttgart, Germany"),
        file="001_e140b98c6eb004a3.txt",
        note="The document states no venue, year or arXiv id.",
        used_for="the same decomposition (Thm 1, Eq. 4) and σ^(2L) growth (Thm 2, Fig. 2); the σ-shrinking "
                 "mitigation procedure (Sect. 3); AdaGrad/Adam change the minimizer (Thm 3, Example 1, Fig. 3); "
                 "SGD ≈ GD but adaptive SGD depends on batch size (Thm 4, Fig. 4, Fig. 9); underparameterized "
                 "models have one minimizer (App. A); settings in App. D"),
    Source(
        "002", "Chapter 11: Wide neural networks",
        authors=(), authors_note="Book chapter, authors not named in the document",
        file="002_9692536818598e94.txt",
        note="A textbook chapter (it refers to the book's Chapters 1 and 10 and ends with exercises) on linear and "
             "kernel least squares, the tangent kernel and LeCun vs NTK initialization; the document names neither "
             "the book nor its authors, venue or year.",
        used_for="GD on least squares converges to min-norm + projection of w0 (Thm 11.3); empirical kernel → "
                 "analytic kernel (Thm 11.16, 11.30, Examples 11.17, 11.31); GD convergence and lazy parameter "
                 "movement O(n^-1/2) (Thm 11.23); linearization gap O(n^-1/2) (Prop. 11.26); Gaussian process at "
                 "initialization (Prop. 11.28, Fig. 11.3)"),
    Source(
        "003", "A type of generalization error induced by initialization in deep neural networks",
        authors=("Yaoyu Zhang", "Zhi-Qin John Xu", "Tao Luo", "Zheng Ma"),
        affiliations=("School of Mathematics, Institute for Advanced Study, Princeton, USA",
                      "School of Mathematical Sciences and Institute of Natural Sciences, Shanghai Jiao Tong "
                      "University, Shanghai, China",
                      "Department of Mathematics, Purdue University, West Lafayette, USA"),
        file="003_4d798787af19209b.txt",
        note="Its first page names the editors, Jianfeng Lu and Rachel Ward; the document states no venue, year or "
             "arXiv id.",
        cited_as="Cited by 001 as: In *Mathematical and Scientific Machine Learning*, pp. 144–164. PMLR, 2020.",
        used_for="loss-function invariance of the trained net (Sect. 4, Fig. 1); decomposition Eq. 6 (Thm 2); error "
                 "decomposition (Thm 3); antisymmetrical initialization ASI and the doubling trick (Sect. 6, Thm 4, "
                 "App. 12); experiments on sin(4x), Boston housing, MNIST (Sect. 7)"),
    Source(
        "004", "Scaling description of generalization with number of parameters in deep learning",
        authors=("Mario Geiger", "Arthur Jacot", "Stefano Spigler", "Franck Gabriel", "Levent Sagun",
                 "Stéphane d'Ascoli", "Giulio Biroli", "Clément Hongler", "Matthieu Wyart"),
        affiliations=("Institute of Physics, École Polytechnique Fédérale de Lausanne, Switzerland",
                      "Institute of Mathematics, École Polytechnique Fédérale de Lausanne, Switzerland",
                      "Laboratoire de Physique Statistique, École Normale Supérieure, PSL Research University, Paris, "
                      "France"),
        file="004_56f530ddaaed0dc4.txt",
        note="M. G. and A. J. contributed equally (first-page footnote). The author line of the text is garbled by "
             "extraction; the order here is that of 003's citation. The document states no venue, year or arXiv "
             "id.",
        cited_as="Cited by 003 as: arXiv preprint arXiv:1901.01608, 2019.",
        used_for="NTK fluctuations and output fluctuations ~ N^(-1/4) (Eq. 7, 9, Fig. 5); test error ε_N − ε̄_N ~ "
                 "N^(-1/2) (Eq. 10, 13, Fig. 6D); ensemble averaging 1/n and δ ~ n^(-1/2) (Sect. 4, Fig. 4); "
                 "jamming transition with ‖f_N‖ ~ (N − N*)^(-1) under the square-hinge loss (Sect. 6, Fig. 7); "
                 "methods section"),
)


# ----- the catalogue's rules (transcribed) ----------------------------------------------------------------------------
INTRO = (
    "Every row is one registered check in ntkbench. Its id is fixed: users, CI and the results/ baseline refer to "
    "it. Each check runs a real experiment (torch.func), fits the quantity named under \"measured\", and passes "
    "when the fitted value lies within the tolerance of \"expected\". Tolerances come from measured seed-to-seed "
    "noise at the profile's scale, never from the paper's hope; write down how each was chosen."
)
RULES = (
    "Every check has at least one **negative control**: a setting of its own parameters under which the theory "
    "predicts a different value, and under which the check must fail. A check that cannot fail is a defect. A "
    "control names the checks that must fail, and its other checks (convergence, thresholds) must still hold. A "
    "run whose preconditions fail (a net that never reached its training threshold) is `invalid`, reported with "
    "counts: neither a pass nor a fail. A check whose value a symmetry of the set-up fixes whatever the physics "
    "also cannot fail: assert what the theory adds."
)
PROFILES = (
    "Profiles: `smoke` (seconds, exercises the plumbing, asserts nothing about science), `ci` (the default; "
    "asserts; the whole catalogue in well under 30 minutes on 2 CPU cores), `paper` (the source document's own "
    "settings: widths, N, seeds, thresholds; for a GPU or a long CPU run)."
)
NOTATION = (
    "Notation: L = number of weight layers (L = 2 is one hidden layer), m = hidden width, N = number of "
    "parameters (seed 004) or training points (seeds 000/001; say which), σ = initialization scale of the NTK "
    "parametrization."
)

FAMILIES: tuple[Family, ...] = (
    Family("A", "Initialization scale", ("000", "001"), ("init-scale",),
           note="The mitigation procedure of 001 Sect. 3 (shrink σ while the validation loss falls) is a feature of "
                "ntkbench, not a check: expose it as a function and show its result in the reproduction report."),
    Family("B", "Optimizers", ("001",), ("optim",)),
    Family("C", "Loss function and initial output", ("003",), ("loss", "init-output")),
    Family("D", "Scaling with the number of parameters", ("004",), ("scaling",)),
    Family("E", "The wide limit", ("002",), ("wide",)),
)


# ----- the 28 rows (transcribed; "seed" means source document) -------------------------------------------------------
ROWS: tuple[Row, ...] = (
    # A. Initialization scale — seeds 000 and 001
    Row('init-scale/sigma-2L', 'A',
        source='000 Thm 4, Fig. 1; 001 Thm 2, Fig. 2',
        claim="GD-trained wide ReLU nets (zero biases, NTK parametrization) reach the same ~0 training loss for every σ, but their test loss grows like σ^(2L) at large σ, with the amplitude of the linearized model's initialization term (000 Eq. 14, Thm 4 lower bound)",
        measured="slope of log(test loss) vs log σ in the asymptotic range fixed before the data (or a fit of a + bσ^L + cσ^(2L)), for L = 2 and L = 3 (MNIST 0 vs 1, N = 100 train, 100 test; settings of 000 App. E / 001 App. D); ratio of the net's large-σ test loss to the Thm 4 / Eq. 14 prediction, vs width",
        expected='2L; ratio → 1 as m grows'),
    Row('init-scale/kernel-limit', 'A',
        source='000 Thm 3; 001 Thm 2 upper bound',
        claim='at small σ the trained net approaches the kernel interpolant f_int: ‖f_NN − f_int‖_test ≤ O(σ^L) + O(m^-1/2)',
        measured='‖f_NN − f_int‖_test relative to ‖f_int‖ over a σ sweep that goes below 1, at two or more widths: its small-σ floor and how the floor falls with width',
        expected='floor → 0 as σ → 0 and m grows (bound scaling with L and m, from calibration)'),
    Row('init-scale/lin-closeness', 'A',
        source='000 Lemma 1, Fig. 1 left; 001 Lemma 1',
        claim='the trained net stays close to its linearization trained the same way, uniformly over training time',
        measured='slope of log sup_t ‖f_NN,t − f_lin,t‖/‖f_lin,t‖ (test points) vs log m',
        expected='−1/2'),
    Row('init-scale/last-layer-exact', 'A',
        source='000 Thm 1',
        claim='training only the last layer from θ^L = 0 gives exactly the minimum-norm interpolant of the last-layer kernel Ψ',
        measured='relative difference on test points after convergence',
        expected='0 (to the training tolerance)'),
    Row('init-scale/homogeneity', 'A',
        source='000 App. C Eq. 15; 001 Lemma 4',
        claim='a zero-bias ReLU net satisfies f(x) = (1/L)⟨θ, ∇θ f(x)⟩',
        measured='max relative deviation over random nets and inputs',
        expected='0 (float64 round-off)'),
    Row('init-scale/decomposition', 'A',
        source='000 Lemma 2 Eq. 14; 001 Thm 1 Eq. 4',
        claim='the infinite-time linearized net equals f_int plus (1/L)φ(x)(1 − P_F)θ0, and the second term vanishes on the training inputs',
        measured='relative difference of the two forms; size of the second term on train vs test inputs',
        expected='0; 0 on train'),
    # B. Optimizers — seed 001
    Row('optim/sgd-equals-gd', 'B',
        source='001 Thm 4(a), Thm 5, Fig. 4 top, Fig. 9',
        claim='vanilla mini-batch SGD (any batch size, with or without shuffling) converges to the GD minimizer up to O(m^-1/2)',
        measured='slope of log ‖f_SGD − f_GD‖_test vs log m; spread over batch splits',
        expected='−1/2; spread ≪ the AdaGrad gap'),
    Row('optim/adagrad-differs', 'B',
        source='001 Thm 3, Example 1, Fig. 3, Fig. 9',
        claim='AdaGrad (and Adam) converge to a different minimizer; the gap to GD does not vanish with width',
        measured='slope of log ‖f_AdaGrad − f_GD‖_test vs log m; ratio to the SGD gap at the largest m',
        expected='≈ 0; ratio ≫ 1'),
    Row('optim/adagrad-closed-form', 'B',
        source='001 Example 1, Eq. 9',
        claim='with one training point, AdaGrad converges to φ(x)Dφ(X)ᵀ(φ(X)Dφ(X)ᵀ)⁻¹Y, D = diag(ggᵀ)^(-1/2), up to O(σ^L) + O(m^-1/2)',
        measured='relative error of the closed form vs the trained net on test points',
        expected='→ 0 as m grows and σ shrinks'),
    Row('optim/adaptive-batch-dependence', 'B',
        source='001 Thm 4(b), Fig. 4 bottom',
        claim='with AdaGrad, the minimizer depends on the mini-batch size; with vanilla SGD it does not',
        measured='spread of test outputs over batch splits, AdaGrad vs SGD',
        expected='AdaGrad spread ≫ SGD spread'),
    Row('optim/underparam-unique', 'B',
        source='001 App. A',
        claim='an underparameterized linearized model (P < N) converges to one minimizer whatever the initialization and optimizer',
        measured='relative spread of test outputs over inits × {GD, AdaGrad, Adam}',
        expected='0 (to the training tolerance)'),
    # C. Loss function and initial output — seed 003
    Row('loss/invariance', 'C',
        source='003 Sect. 4, Thm 5–6, Fig. 1',
        claim='with the initialization fixed, nets trained to convergence under the L2 loss and under the L4 loss output the same function on test points',
        measured='slope of log ‖f_L2 − f_L4‖/‖f_L2‖ vs log m (1-D sin(4x) and one more dataset)',
        expected='−1/2 (the gap is the linearization error)'),
    Row('init-output/eq6', 'C',
        source='003 Thm 2 Eq. 6, Fig. 2a, Fig. 3a',
        claim='h(·; h_ini) = h(·; 0) + h_ini − h(·; 0, X, h_ini(X)), each term computed by training a wide net (ASI for the zero-initial-output terms)',
        measured='relative error of the right-hand side vs the trained net',
        expected='→ 0 with width'),
    Row('init-output/asi-exact', 'C',
        source='003 Sect. 6, Thm 4',
        claim='the ASI net outputs exactly 0 at initialization and has the same NTK as the original net',
        measured='max abs output; relative kernel difference',
        expected='0; 0'),
    Row('init-output/doubling-kernel', 'C',
        source='003 Sect. 6, App. 12',
        claim='the doubling trick doubles the kernel contributions of layers L−1 and L and annihilates those of layers ≤ L−2',
        measured='per-layer kernel ratios doubled/original',
        expected='2, 2, 0, …, 0'),
    Row('init-output/asi-generalization', 'C',
        source='003 Thm 3, Fig. 2, Fig. 3b',
        claim='with a large initialization scale, ASI lowers the test error and reaches the training threshold in fewer steps than the original net (sin(4x); Boston housing, 400 train / 106 test)',
        measured='test-error ratio ASI/original; steps ratio',
        expected='< 1; < 1'),
    Row('init-output/error-decomposition', 'C',
        source='003 Thm 3',
        claim='E over initializations of the test error = error of the zero-initial-output solution + E of the residual term',
        measured='relative mismatch of the Monte-Carlo estimate',
        expected='→ 0 with more samples'),
    # D. Scaling with the number of parameters — seed 004
    Row('scaling/ntk-fluctuations', 'D',
        source='004 Eq. 7, S.I. B',
        claim='the empirical NTK at initialization fluctuates around the infinite-width NTK by O(h^-1/2) = O(N^-1/4) (nets with ≥ 2 hidden layers, so N ∝ h²)',
        measured='slope of log ‖Θ_N − Θ_∞‖ vs log N',
        expected='−1/4'),
    Row('scaling/output-fluctuations', 'D',
        source='004 Eq. 9, Fig. 5, S.I. C',
        claim='the trained output fluctuates over initializations by ‖f_N − f̄_N‖ ~ N^-1/4',
        measured='slope of log ‖f_N − f̄_N‖_μ vs log N, f̄ from an ensemble (train f − f0 as in footnote 5 so the init variance does not mask it)',
        expected="−1/4 (the paper's own free fit gave −0.28)"),
    Row('scaling/test-error', 'D',
        source='004 Eq. 10, 13, Fig. 6D',
        claim='ε_N − ε̄_N ~ N^-1/2, where ε̄_N is the test error of the ensemble-averaged output',
        measured='slope of log(ε_N − ε̄_N) vs log N',
        expected="−1/2 (paper's free fit −0.42)"),
    Row('scaling/ensemble', 'D',
        source='004 Sect. 4, Fig. 4',
        claim='averaging n independently initialized nets: ε^n − ε̄ ~ 1/n and the boundary distance δ ~ n^-1/2',
        measured='slopes vs log n',
        expected='−1; −1/2'),
    Row('scaling/jamming-norm', 'D',
        source='004 Sect. 6, Fig. 7',
        claim='under the square-hinge loss (margin 1, no regularization) the output norm diverges at the jamming point: ‖f_N‖ ~ (N − N*)^(-α), α = 1; N* is where the training set stops being fitted',
        measured='α from a fit with N* free (MNIST parity, PCA-10 inputs, scaled down so it runs on a CPU; full-batch Adam as in the methods)',
        expected='1 (fits are sloppy: say how N* was located)'),
    Row('scaling/jamming-cusp', 'D',
        source='004 Sect. 2, Fig. 2',
        claim='the test error has a cusp-like maximum near N*, then decreases with N; ensemble averaging flattens it',
        measured='position of the test-error maximum relative to N*; ensemble curve flatness',
        expected='≈ N*; flat'),
    # E. The wide limit — seed 002
    Row('wide/ntk-limit', 'E',
        source='002 Thm 11.16, 11.30, Examples 11.17, 11.31',
        claim='the empirical tangent kernel of a one-hidden-layer net converges to the analytic kernel: K̂_n → K^NTK (NTK initialization), K̂_n / n → K^LC (LeCun initialization)',
        measured='slope of the relative error vs log n, both parametrizations',
        expected='−1/2'),
    Row('wide/lazy-movement', 'E',
        source='002 Thm 11.23',
        claim='under GD with step h ~ 1/n, the parameters stay within O(n^-1/2) of their initialization while the loss goes to 0',
        measured='slope of log sup_k ‖w_k − w_0‖ vs log n',
        expected='−1/2'),
    Row('wide/linearization-gap', 'E',
        source='002 Prop. 11.25, 11.26',
        claim='sup over training steps of ‖Φ(x, w_k) − Φ_lin(x, p_k)‖ is O(n^-1/2)',
        measured='slope vs log n',
        expected='≤ −1/2 (a bound)'),
    Row('wide/gp-init', 'E',
        source='002 Prop. 11.28',
        claim='at initialization the outputs on a finite set of inputs tend to a centered Gaussian with the NNGP covariance c(x, z)',
        measured='covariance error vs analytic; a normality test statistic',
        expected='→ 0 with width'),
    Row('wide/lsq-projection', 'E',
        source='002 Prop. 11.2, Thm 11.3',
        claim='GD on linear least squares from w0 converges to the min-norm solution plus the component of w0 orthogonal to span{x_i}',
        measured='relative error to the closed form',
        expected='0'),
)

CATALOGUE: dict[str, Row] = {r.id: r for r in ROWS}
_SOURCES: dict[str, Source] = {s.key: s for s in SOURCES}
_FAMILIES: dict[str, Family] = {f.letter: f for f in FAMILIES}

DOC_PATH = "docs/claims.md"
REGENERATE = "ntkbench list --markdown > docs/claims.md"


def row(claim_id: str) -> Row:
    """The catalogue row of ``claim_id`` (KeyError naming the known ids if there is none)."""
    try:
        return CATALOGUE[claim_id]
    except KeyError:
        raise KeyError(f"{claim_id!r} is not in the catalogue; its ids: {', '.join(CATALOGUE)}") from None


def source(key: str) -> Source:
    """The source document with key "000" … "004"."""
    try:
        return _SOURCES[key]
    except KeyError:
        raise KeyError(f"no source document {key!r}; keys: {', '.join(_SOURCES)}") from None


def family_of(claim_id: str) -> Family | None:
    """The family of an id, by its catalogue row or else by its prefix (``None`` when neither matches)."""
    if claim_id in CATALOGUE:
        return _FAMILIES[CATALOGUE[claim_id].family]
    prefix = claim_id.split("/", 1)[0]
    return next((f for f in FAMILIES if prefix in f.prefixes), None)


# ----- Markdown -------------------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Text fit for one Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(text).split()).replace("|", "\\|")


def references_markdown(used_for: bool = False) -> str:
    """The five documents as full references, one list item each (the README's "References" section; with
    ``used_for``, also what ntkbench takes from each, for ``docs/claims.md``)."""
    lines = []
    for s in SOURCES:
        item = f"- **{s.key}** — {s.reference()}"
        if used_for and s.used_for:
            item += f" ntkbench takes from it: {s.used_for}."
        lines.append(item)
    return "\n".join(lines) + "\n"


def _expected(claim, r: Row | None) -> str:
    """The catalogue's expectation, then the checks the registered claim asserts at ``ci`` (science checks, then
    preconditions, whose failure makes a run ``invalid``)."""
    parts = [f"catalogue: {r.expected}"] if r is not None else []
    params = claim.resolve("ci")
    expects = claim.expect(params)
    science = [e for e in expects if e.role == "science"]
    identities = [e for e in expects if e.role == "identity"]
    pre = [e for e in expects if e.role == "precondition"]
    record = _calibration(claim, params)
    if science:
        parts.append("at `ci`: " + "; ".join(f"`{e.name}` {e.describe()}{_rules_out(e, record)}" for e in science))
    if identities:
        parts.append("identities (true for any network; they test the engine): "
                     + "; ".join(f"`{e.name}` {e.describe()}" for e in identities))
    if pre:
        parts.append("preconditions: " + "; ".join(f"`{e.name}` {e.describe()}" for e in pre))
    return "<br>".join(_cell(p) for p in parts)


def _calibration(claim, params) -> dict:
    """The claim's committed ci calibration record at these parameters ({} when there is none)."""
    from . import power

    return power.find_record(claim.id, None, "ci", params, [power.baseline_folder()]) or {}


def _rules_out(expect, record) -> str:
    """`` (rules out −0.25: power 55 %, 0: 100 %)``: each alternative with its power in the ci calibration record
    (the noise of K reseeds), or "not calibrated"."""
    from . import power

    if not expect.alternatives:
        return ""
    q = (record.get("quantities") or {}).get(expect.name) or {}
    measured = [(a.get("value"), a.get("power")) for a in q.get("alternatives") or () if "power" in a]
    items = []
    for a in expect.alternatives:
        # an alternative computed from the parameters (−½/s_N from a fitted slope of log N) is recomputed here and
        # may differ from the record's in the last bits (another BLAS, another summation order): match to round-off
        p = next((pw for v, pw in measured if isinstance(v, (int, float))
                  and math.isclose(v, a.value, rel_tol=1e-9, abs_tol=1e-12)), None)
        items.append(f"{a.value:g}: " + ("not calibrated" if p is None else f"power {power.power_percent(p)}"
                                          + ("" if p >= power.POWER_GOAL else " — not discriminating")))
    biased = " — **biased**" if q.get("biased") else ""
    sens = q.get("sensitivity")
    detects = ""
    if isinstance(sens, (int, float)) and math.isfinite(sens):  # a significance test: its level, and how often the
        detects = f"; detects the theory's effect in {power.power_percent(sens)}" + (  # calibration detects it
            "" if sens >= power.POWER_GOAL else " — not discriminating")
    return f" (rules out {', '.join(items)}{detects}{biased})"


def _controls(claim) -> str:
    if not claim.controls:
        return "none"
    items = []
    for k in claim.controls:
        fails = tuple(getattr(k, "fails", ()))
        must = f" (must fail: {', '.join(f'`{f}`' for f in fails)})" if fails else ""
        for name, landing in k.lands.items():
            must += f" (`{name}` lands at {landing.at(claim.resolve('ci', k.overrides)):.3g} ± {landing.tolerance:g})"
        items.append(_cell(f"`{k.name}`{must}: {k.why}"))
    return "<br>".join(items)


def _table(rows: list[tuple[str, Row | None]], registered: dict) -> list[str]:
    out = ["| id | source | claim | measured | expected | negative controls (must fail) | status |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for cid, r in rows:
        claim = registered.get(cid)
        if claim is not None:
            status = "registered" + ("" if claim.in_tests else " (slow)")
            cells = [f"`{cid}`", _cell(claim.source), _cell(claim.statement), _cell(claim.measured),
                     _expected(claim, r), _controls(claim), status]
        else:
            cells = [f"`{cid}`", _cell(r.source), _cell(r.claim), _cell(r.measured), _cell(r.expected), "",
                     "planned"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_markdown(claims) -> str:
    """``docs/claims.md``: the catalogue's rules, the references, and per family a table of its rows. A registered
    claim (``claims``: :func:`ntkbench.harness.registry.all_claims`) shows the registry's statement, source and
    measurement, the catalogue's expectation with the ``ci`` tolerances, and its negative controls; every other
    row is marked "planned". Registered ids missing from the catalogue are listed in a section of their own."""
    registered = {c.id: c for c in claims}
    n_reg = sum(cid in registered for cid in CATALOGUE)
    in_tests = [c for c in claims if c.in_tests]
    out = [
        "# The claim catalogue",
        "",
        f"<!-- Generated from ntkbench/catalogue.py and the claim registry by `{REGENERATE}`; do not edit. -->",
        "",
        f"{len(CATALOGUE)} checks in {len(FAMILIES)} families, each under a fixed id. "
        f"**{n_reg} {'is' if n_reg == 1 else 'are'} registered** "
        "(`ntkbench list`; `ntkbench show ID` gives a claim's parameters per profile and the reason for each "
        "tolerance); the others are **planned**: the catalogue fixes their id and what they measure, but "
        "`ntkbench run` does not know them yet. For a registered claim the table gives the registry's statement, "
        "source and measurement, the catalogue's expectation followed by the checks asserted at the `ci` profile "
        "(`expected ±tolerance`, or `≤ +tolerance` for a bound; preconditions make a run `invalid` when they "
        "fail), and its negative controls with the checks each must fail; \"registered (slow)\" "
        f"claims take minutes at `ci` and run in `nox -s claims`, the other {len(in_tests)} also in "
        "`nox -s tests`. Sources are cited by document key and theorem, equation or figure (see "
        "[References](#references)).",
        "",
        "## Rules",
        "",
        INTRO,
        "",
        RULES,
        "",
        PROFILES,
        "",
        NOTATION,
        "",
        "## References",
        "",
        references_markdown(used_for=True).rstrip("\n"),
    ]
    for fam in FAMILIES:
        rows = [(r.id, r) for r in ROWS if r.family == fam.letter]
        rows += [(c.id, None) for c in claims if c.id not in CATALOGUE and family_of(c.id) is fam]
        out += ["", f"## {fam.heading}", "", *_table(rows, registered)]
        if fam.note:
            out += ["", fam.note]
        if fam.letter == "A":
            out += ["", "In ntkbench: `ntkbench.harness.mitigation.shrink_sigma` (the procedure on any data) and "
                        "`ntkbench mitigate` (its run on the embedded MNIST at a profile, shown in results/README.md)."]
    strays = [c for c in claims if c.id not in CATALOGUE and family_of(c.id) is None]
    if strays:
        out += ["", "## Registered, not in the catalogue", "", *_table([(c.id, None) for c in strays], registered)]
    return "\n".join(out) + "\n"
