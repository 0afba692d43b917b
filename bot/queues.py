"""The RQ queues of scaled-out mode (light: the command line reads it before anything else)."""

CHAT_QUEUE = "crms"  # answering renters, delivering replies: milliseconds a job
SLOW_QUEUE = "crms-slow"  # OCR, QR-bill PDFs, Stripe payment links: up to seconds a job
QUEUES = (CHAT_QUEUE, SLOW_QUEUE)  # a worker's default, in the order it takes jobs
