"""Google Gemini API (generateContent): the upstream side."""
