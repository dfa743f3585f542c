"""Reports: load result records into pandas, render tables (Markdown, HTML)."""
