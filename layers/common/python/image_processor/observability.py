from aws_lambda_powertools import Logger

SERVICE_NAME = "product-image-processor"


def service_logger(level: str) -> Logger:
    """The root Powertools logger (JSON, one line per event); library modules log through child loggers."""
    return Logger(service=SERVICE_NAME, level=level)
