"""Vision: detectors and recognisers behind small interfaces, pure functions on numpy frames."""
