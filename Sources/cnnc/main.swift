import Runtime
print("cnnc")
