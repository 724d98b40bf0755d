"""The AWS host: settings from the environment and the wiring of each Lambda function.

``api`` (control plane, data plane) never imports LanceDB or pyarrow, so those
functions ship as small zip assets; ``workers`` (index builder, query executor, workflow
tasks) read and write slabs and ship as container images.
"""
