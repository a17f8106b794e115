# Entry points; the real work is in scripts/ so it also runs without make.
.PHONY: demo test lint

demo: ## set up and run `stockops demo` on embedded defaults
	bash scripts/demo.sh

test: ## set up and run every test tier (what CI runs)
	bash scripts/test.sh

lint:
	.venv/bin/ruff check src tests benchmarks && .venv/bin/ruff format --check src tests benchmarks
