"""Motion metrics (quality now; text-motion metrics come with the evaluator)."""
