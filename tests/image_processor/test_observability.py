"""Trace annotations cost nothing where nothing traces (uvicorn, the container, tests)."""

import subprocess
import sys


def test_annotating_outside_lambda_never_loads_x_ray() -> None:
    script = (
        "import sys\n"
        "from image_processor.observability import annotate_trace\n"
        "annotate_trace(image_id='x', job_status='pending')\n"
        "print('aws_xray_sdk.core' in sys.modules)\n"
    )
    environment = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
