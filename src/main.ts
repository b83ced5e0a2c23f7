console.log("manage")
