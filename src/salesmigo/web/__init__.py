"""Pages the API serves as they are: plain HTML and JavaScript, no build step."""
