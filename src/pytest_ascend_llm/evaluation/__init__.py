"""Accuracy on a dataset: question sets (GSM8K-style or generic JSONL, or a built-in generated one), answer
extraction, and scoring with intervals and paired before/now comparisons.

A throughput number means little if the deployment answers wrongly, and an accuracy number means little without
its uncertainty: this package turns model outputs into k/n with a Wilson interval and tells a real regression from
noise. Pure Python, no pytest: the shipped accuracy case drives it.
"""
