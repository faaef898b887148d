"""deploy: shipping a sweep's winner, in one place.

Test-set evaluation of the best trials, retraining the winner on train + validation, the model package
format, TorchScript / ONNX export and prediction from a package. It reads experiments through `results`
and trains through `model`; nothing below imports it. Entry points:

    deploy.evaluate.evaluate_experiment(experiment, top_k)     python -m deploy.evaluate EXP --top-k K
    deploy.export.export_experiment(experiment, out)           python -m deploy.export EXP --out DIR
    deploy.predict.classify(package, inputs)                   python -m deploy.predict --model DIR IMAGES

See docs/export.md.
"""
