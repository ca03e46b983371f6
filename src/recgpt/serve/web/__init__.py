"""The page of ``recgpt serve``: one user's chain, like the report's Figure 8."""
