"""Reports from the projections: the HTML report, its charts, the live view, bundles, exports."""
