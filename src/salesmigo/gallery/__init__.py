"""Face gallery: 1:N search over the face templates of registered customers."""
