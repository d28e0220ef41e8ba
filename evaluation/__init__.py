"""Evaluation shared by both stages: questions from the task functions, generation, parsing, scoring."""
