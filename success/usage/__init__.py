"""Product usage: raw events pushed by the company's own product and their daily rollups per customer."""
