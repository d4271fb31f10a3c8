# One entry point for users and developers. `make help` lists the targets.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup lab lint test test-quick demo status teardown deploy bench collection docs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Create .venv with the pinned Ansible, Molecule and test tooling
	@scripts/setup.sh

lab: setup ## Start a Docker engine and the package cache, build the lab's Debian 12/13 images (cached)
	@scripts/lab/up.sh

collection: setup ## Build the collection's tarball into dist/ (ansible-galaxy collection install it)
	@ansible-galaxy collection build --force --output-path dist ansible_collections/fastapi_vps/stack

docs: setup ## Write each role's variable reference into its README from its argument specs (aar-doc)
	@scripts/role-docs.sh

lint: setup ## yamllint, ansible-lint (production profile), ruff
	@scripts/test.sh lint

test: setup ## The whole suite: lint, app tests against real PostgreSQL/Redis, Molecule scenarios, the fleet
	@scripts/test.sh

test-quick: setup ## The inner loop: lint, validation, app tests, the base scenario on Debian 12
	@scripts/test.sh quick

demo: lab ## Create the local fleet of containers and run site.yml against it
	@scripts/demo.sh up

bench: lab ## Benchmarks on a fresh local fleet: writes bench/report.md and bench/timeline.png
	@.venv/bin/python scripts/bench/bench.py

status: setup ## Show the local fleet
	@scripts/demo.sh status

teardown: ## Remove the local fleet
	@scripts/demo.sh down

deploy: setup ## Roll a release out from here: make deploy ENV=staging|prod [RELEASE=<sha>]
	@scripts/deploy.sh $(ENV) $(RELEASE)
