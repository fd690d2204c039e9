print("ecmo-rig")
