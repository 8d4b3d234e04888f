"""Shadow AI: AI spend paid on cards and expense reports, found in the exports Finance already has."""
