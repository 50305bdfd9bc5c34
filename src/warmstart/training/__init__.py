"""The one training loop, its resumable state, and precision contexts."""
