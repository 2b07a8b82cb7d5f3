"""The delivery plan as code: story catalog, gates, evidence, scheduler, reports (pure: data in, data out)."""
