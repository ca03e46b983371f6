"""The Human-LLM cooperative judge (report Section 3): rubrics, the LLM judge, the judge data buffer,
rebalancing, agreement with human labels, the milestone check and the labelling web page."""
