# `make html` sets up the environment (first time) and builds the book into _build/html.
# `make test` sets up the same environment and runs the test suite; `make test-quick` runs only
# the tests that need no kernel, environment, network or browser (pytest -m "not slow").
#
#   make html FRAMEWORKS="torch"        execute and show only these frameworks (default: conf.py)
#   make html JOBS=4                    kernels run at once (default: number of cores)
#   make html KEEP_GOING=1              build the site even when cells fail (failures shown in pages)
#   make html RETRY=1                   run again the runs that failed in an earlier build (a cell that
#                                       raised is otherwise remembered until its code or inputs change)
#   make html EXECUTOR=dask-local:2     where the runs execute: local (default: this machine's kernels),
#                                       dask://HOST:PORT (a Dask scheduler), dask-local:N (a Dask
#                                       cluster of N worker processes started by the build)
#   make html SPHINXOPTS="-W"           extra sphinx-build options
#   make html BOOK=path/to/d2l-book     build a d2l-book project (config.ini, index.md, chapters) into
#                                       path/to/d2l-book/_build/html, with no conf.py to write
#   make html ONLY="chapter_optimization/gd chapter_optimization/sgd"
#                                       a partial build: execute and write only these documents (or
#                                       folders of documents) and the pages that index them; the
#                                       whole book is still read for the package, section numbers
#                                       and references (with BOOK= too)
#   make livehtml [BOOK=...] [PORT=8000]  live preview: rebuilds on every save (with the same cache) and
#                                       reloads the browser (sphinx-autobuild); each framework stays
#                                       imported between rebuilds, KEEP_WARM=900 seconds after the last
#   make pdf [BOOK=...] [FRAMEWORKS=torch]  one PDF per selected framework (xelatex), in _build/pdf

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
BUILDDIR ?= _build
FRAMEWORKS ?=
JOBS ?=
KEEP_GOING ?=
RETRY ?=
ONLY ?=
EXECUTOR ?=
SPHINXOPTS ?=

SPHINX_ARGS := -c . $(if $(FRAMEWORKS),-D d2l_selected="$(FRAMEWORKS)") $(if $(JOBS),-D d2l_jobs=$(JOBS)) $(if $(KEEP_GOING),-D d2l_keep_going=$(KEEP_GOING)) $(if $(RETRY),-D d2l_retry_failed=$(RETRY)) $(if $(ONLY),-D d2l_only="$(ONLY)") $(if $(EXECUTOR),-D d2l_executor="$(EXECUTOR)") $(SPHINXOPTS)

.PHONY: html lib test test-quick lint clean setup bench browser livehtml pdf latex-tools

html: $(READY)
ifdef BOOK
	D2L_BOOK="$(BOOK)" D2L_ENVIRONMENTS="$(CURDIR)/.venvs" $(BIN)/sphinx-build -M html "$(BOOK)" "$(BOOK)/_build" \
	  $(subst -c .,-c $(CURDIR)/d2lext/d2lbook_conf,$(SPHINX_ARGS))
else
	$(BIN)/sphinx-build -M html source $(BUILDDIR) $(SPHINX_ARGS)
endif

# Live preview: sphinx-autobuild watches the sources, runs `sphinx-build` again (a new process
# each time, with the cache of `make html`: a prose edit executes nothing, a code edit only its
# chapter in its framework) and reloads the pages open in the browser. A failed build leaves the
# last good pages served. Editors' temporary files are not changes.
PORT ?= 8000
KEEP_WARM ?= 900
LIVE_ARGS := -D d2l_keep_warm=$(KEEP_WARM) --port $(PORT) --re-ignore '(\.sw[a-z]|~|/\.\#[^/]*|/4913|/__pycache__/.*|/\.ipynb_checkpoints/.*)$$'

livehtml: $(READY)
ifdef BOOK
	D2L_BOOK="$(BOOK)" D2L_ENVIRONMENTS="$(CURDIR)/.venvs" $(BIN)/sphinx-autobuild -M html "$(BOOK)" "$(BOOK)/_build" \
	  $(subst -c .,-c $(CURDIR)/d2lext/d2lbook_conf,$(SPHINX_ARGS)) $(LIVE_ARGS)
else
	$(BIN)/sphinx-autobuild -M html source $(BUILDDIR) $(SPHINX_ARGS) $(LIVE_ARGS) --watch conf.py
endif

# One PDF per selected framework (FRAMEWORKS=, default: conf.py's selection), with that framework's
# listings, outputs and figures, into $(BUILDDIR)/pdf; the next `make html` links them under every
# page's title. Same execution cache as `make html`.
PDF_ARGS := $(if $(JOBS),-D d2l_jobs=$(JOBS)) $(if $(KEEP_GOING),-D d2l_keep_going=$(KEEP_GOING)) $(if $(RETRY),-D d2l_retry_failed=$(RETRY)) $(SPHINXOPTS)

pdf: $(READY) latex-tools
ifdef BOOK
	D2L_BOOK="$(BOOK)" D2L_ENVIRONMENTS="$(CURDIR)/.venvs" $(BIN)/python -m d2lext.pdf --conf $(CURDIR)/d2lext/d2lbook_conf \
	  --source "$(BOOK)" --build "$(BOOK)/_build" --frameworks "$(FRAMEWORKS)" $(PDF_ARGS)
else
	$(BIN)/python -m d2lext.pdf --conf . --source source --build $(BUILDDIR) --frameworks "$(FRAMEWORKS)" $(PDF_ARGS)
endif

# The saved package, for every configured framework, and its wheel in $(BUILDDIR)/dist (for a
# d2l-book project, in $(BOOK)/_build/dist): planned as `make html` plans it.
lib: $(READY)
ifdef BOOK
	D2L_BOOK="$(BOOK)" D2L_ENVIRONMENTS="$(CURDIR)/.venvs" $(BIN)/python -m d2lext.lib \
	  --conf $(CURDIR)/d2lext/d2lbook_conf --source "$(BOOK)" --build "$(BOOK)/_build"
else
	$(BIN)/python -m d2lext.lib --conf . --source source --build $(BUILDDIR)
endif

test: $(READY) browser latex-tools
	$(BIN)/pytest

# The tests not marked slow (tests/conftest.py marks them): the extension's rules, in seconds.
test-quick: $(READY)
	$(BIN)/pytest -m "not slow"

# $(call apt_install,PACKAGES,what lacks them): Debian packages installed with apt when one is
# missing (as root; otherwise a line saying what cannot work).
define apt_install
	@if ! dpkg -s $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); \
	  else \
	    echo "*** cannot install $(1) (not root): $(2) ***"; \
	  fi; \
	fi
endef

# The browser tests drive Debian's chromium (never a downloaded browser build); a CJK font makes
# their screenshots readable; Node.js typesets the math when pages are written (without it, pages
# load MathJax and typeset in the browser). Installed with apt when missing (as root); otherwise
# the browser tests are skipped with a message saying so.
BROWSER_PACKAGES := chromium fonts-wqy-microhei nodejs
browser:
	$(call apt_install,$(BROWSER_PACKAGES),the browser tests will be skipped)

# make pdf: xelatex with ctex (Chinese), latexmk, the CJK fonts, rsvg-convert (SVG figures to
# PDF) and poppler's tools (the PDF tests read the PDFs with them). Installed with apt when missing.
LATEX_PACKAGES := texlive-xetex texlive-lang-chinese texlive-latex-extra texlive-fonts-recommended fonts-noto-cjk latexmk librsvg2-bin poppler-utils
latex-tools:
	$(call apt_install,$(LATEX_PACKAGES),make pdf and the PDF tests need them)

lint: $(READY)
	$(BIN)/ruff check .

setup: $(READY)

# The virtual environment, from the pinned requirements (torch==2.13.0 is the CPU build), and
# the pinned MathJax from the npm registry (the site serves it itself).
$(READY): requirements.txt pyproject.toml d2lext/site/vendor.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m d2lext.site.vendor
	touch $@

clean:
	rm -rf $(BUILDDIR)

# Build-speed benchmark (not a test): results are printed and prepended to BENCHMARKS.md.
bench: $(READY)
	$(BIN)/python benchmarks/bench.py --write
