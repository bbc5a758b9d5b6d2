"""Tests written for mutants of the safety logic that survived the mutation run
(tools/mutation.sh, docs/mutation.md): each names what it pins down."""

from __future__ import annotations
